//! The audit log. Any write records into it with one call inside its own transaction,
//! `audit::record(&mut *tx, &entry)`, so a change and its entry commit or roll back together.
//! Every statement reads the same in both dialects.

use sqlx::{PgConnection, SqliteConnection};

use super::Store;
use crate::domain::audit::{AuditEntry, AuditFilter, AuditRecord};
use crate::domain::time::Timestamp;
use crate::error::Result;

const INSERT: &str = "INSERT INTO audit_log (recorded_at, actor, actor_role, action, \
     target_kind, target_id, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// A connection, inside a transaction, that an audit entry can be written on: SQLite's or
/// PostgreSQL's.
pub trait AuditConnection: Send {
    fn insert_entry(
        &mut self,
        entry: &AuditEntry,
    ) -> impl std::future::Future<Output = Result<()>> + Send;
}

macro_rules! audit_connection {
    ($connection:ty) => {
        impl AuditConnection for $connection {
            async fn insert_entry(&mut self, entry: &AuditEntry) -> Result<()> {
                sqlx::query(INSERT)
                    .bind(entry.at)
                    .bind(&entry.actor)
                    .bind(&entry.actor_role)
                    .bind(entry.action)
                    .bind(entry.target_kind)
                    .bind(&entry.target_id)
                    .bind(json_text(&entry.before))
                    .bind(json_text(&entry.after))
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}

audit_connection!(SqliteConnection);
audit_connection!(PgConnection);

fn json_text(fields: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(fields.clone()).to_string()
}

/// Records `entry` in the caller's transaction.
pub async fn record(tx: &mut impl AuditConnection, entry: &AuditEntry) -> Result<()> {
    tx.insert_entry(entry).await
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    recorded_at: Timestamp,
    actor: String,
    actor_role: String,
    action: String,
    target_kind: String,
    target_id: String,
    before: String,
    after: String,
}

/// Entries matching `filter`, newest first.
pub async fn list(store: &Store, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
    let rows: Vec<EntryRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT seq, recorded_at, actor, actor_role, action, target_kind, target_id, \
             before, after FROM audit_log \
             WHERE ($1 = 0 OR seq < $1) \
             AND ($2 IS NULL OR target_kind = $2) AND ($3 IS NULL OR target_id = $3) \
             AND ($4 IS NULL OR actor = $4) \
             AND ($5 IS NULL OR recorded_at >= $5) AND ($6 IS NULL OR recorded_at < $6) \
             ORDER BY seq DESC LIMIT $7",
        )
        .bind(filter.before_seq)
        .bind(&filter.target_kind)
        .bind(&filter.target_id)
        .bind(&filter.actor)
        .bind(filter.from)
        .bind(filter.until)
        .bind(filter.limit as i64)
        .fetch_all(db)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| AuditRecord {
            seq: r.seq,
            at: r.recorded_at,
            actor: r.actor,
            actor_role: r.actor_role,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            before: r.before,
            after: r.after,
        })
        .collect())
}
