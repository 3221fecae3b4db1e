//! SQLite: migrations run on the writer connection; backfills need no row locks, since the
//! writer connection holds the database's write lock for the whole transaction.

use sqlx::SqliteConnection;

use crate::domain::ids::CampaignId;
use crate::error::Result;
use crate::store::aggregates::CellRowKey;
use crate::store::aggregates::sqlite::to_json;
use crate::store::sqlite::SqliteStore;
use crate::store::values::{Counts, code};

pub use crate::store::calls::sqlite::withdraw_interview;

/// A phone poll that is still rejected, as its call case knows it.
pub const LOCK_REJECTED_POLL: &str = "SELECT campaign_id, unit_id, carrier, respondent_hash, \
     ended_at FROM submissions WHERE campaign_id = $1 AND submission_id = $2 AND review_state = $3 \
     AND respondent_hash IS NOT NULL";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub async fn migrate(db: &SqliteStore) -> Result<()> {
    MIGRATOR.run(&mut db.writer().await.connection).await?;
    Ok(())
}

/// Nothing to lock: the transaction holds the database's write lock.
pub async fn lock_uncounted(_: &mut SqliteConnection, _: &CampaignId) -> Result<()> {
    Ok(())
}

/// Writes counted top-three lists where they are missing, as one bound JSON array.
pub async fn write_top_three(
    conn: &mut SqliteConnection,
    campaign: &CampaignId,
    rows: Vec<(CellRowKey, Vec<i64>)>,
) -> Result<()> {
    let rows: Vec<_> = rows
        .into_iter()
        .map(|((_, unit, channel, carrier, stratum), counts)| {
            (
                unit.to_string(),
                code(channel),
                carrier.code(),
                stratum.as_str().to_owned(),
                Counts::json(&counts),
            )
        })
        .collect();
    sqlx::query(
        "UPDATE cell_stats SET top_three = r.value ->> 4 FROM jsonb_each($1) AS r \
         WHERE campaign_id = $2 AND unit_id = r.value ->> 0 AND channel = r.value ->> 1 \
         AND carrier = r.value ->> 2 AND stratum = r.value ->> 3 AND top_three IS NULL",
    )
    .bind(to_json(&rows))
    .bind(campaign)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
