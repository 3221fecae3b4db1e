//! Token revocations: who revoked what, when and why. Rows are only ever added; servers hold
//! them all in memory (`auth::Revocations`), so no call reads this table.

use super::{Store, audit};
use crate::domain::audit::AuditEntry;
use crate::domain::revocation::{NewRevocation, Revocation, RevocationTarget};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct RevocationRow {
    jti: Option<String>,
    subject: Option<String>,
    issued_before: Option<Timestamp>,
    revoked_by: String,
    revoked_at: Timestamp,
    reason: String,
}

impl TryFrom<RevocationRow> for Revocation {
    type Error = Error;

    fn try_from(row: RevocationRow) -> Result<Self> {
        let target = match (row.jti, row.subject, row.issued_before) {
            (Some(jti), None, None) => RevocationTarget::TokenId(jti),
            (None, Some(subject), Some(issued_before)) => RevocationTarget::Subject {
                subject,
                issued_before,
            },
            _ => {
                return Err(Error::internal(
                    "a stored revocation names no single target",
                ));
            }
        };
        Ok(Self {
            target,
            revoked_by: row.revoked_by,
            revoked_at: row.revoked_at,
            reason: row.reason,
        })
    }
}

/// Records a revocation with its audit entry (who revoked it, and when), in one transaction.
pub async fn insert(
    store: &Store,
    revocation: &NewRevocation,
    entry: &AuditEntry,
) -> Result<Revocation> {
    let revoked_by = entry.actor.as_str();
    let revoked_at = entry.at;
    let (jti, subject, issued_before) = match &revocation.target {
        RevocationTarget::TokenId(jti) => (Some(jti.as_str()), None, None),
        RevocationTarget::Subject {
            subject,
            issued_before,
        } => (None, Some(subject.as_str()), Some(*issued_before)),
    };
    transaction!(store, |tx| {
        sqlx::query(
            "INSERT INTO token_revocations \
             (jti, subject, issued_before, revoked_by, revoked_at, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(jti)
        .bind(subject)
        .bind(issued_before)
        .bind(revoked_by)
        .bind(revoked_at)
        .bind(&revocation.reason)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut *tx, entry).await?;
    });
    Ok(Revocation {
        target: revocation.target.clone(),
        revoked_by: revoked_by.to_owned(),
        revoked_at,
        reason: revocation.reason.clone(),
    })
}

/// Every revocation, oldest first.
pub async fn load(store: &Store) -> Result<Vec<Revocation>> {
    let rows: Vec<RevocationRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT jti, subject, issued_before, revoked_by, revoked_at, reason \
             FROM token_revocations ORDER BY seq",
        )
        .fetch_all(db)
        .await?
    });
    rows.into_iter().map(Revocation::try_from).collect()
}
