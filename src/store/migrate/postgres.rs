//! PostgreSQL: migrations, and backfills that lock what they complete, since a current server
//! may be ingesting into the same database meanwhile.

use sqlx::PgConnection;

use crate::domain::ids::CampaignId;
use crate::error::Result;
use crate::store::aggregates::CellRowKey;
use crate::store::postgres::{PgStore, array_literal};
use crate::store::values::code;

pub use crate::store::calls::postgres::withdraw_interview;

/// A phone poll that is still rejected, as its call case knows it, locked until commit.
pub const LOCK_REJECTED_POLL: &str = "SELECT campaign_id, unit_id, carrier, respondent_hash, \
     ended_at FROM submissions WHERE campaign_id = $1 AND submission_id = $2 AND review_state = $3 \
     AND respondent_hash IS NOT NULL FOR UPDATE";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub async fn migrate(db: &PgStore) -> Result<()> {
    MIGRATOR.run(&db.pool).await?;
    Ok(())
}

/// Locks the campaign's uncounted rows: a server process ingesting meanwhile adds to a row
/// after its count, or its submissions are counted in it.
pub async fn lock_uncounted(conn: &mut PgConnection, campaign: &CampaignId) -> Result<()> {
    sqlx::query("SELECT 1 FROM cell_stats WHERE campaign_id = $1 AND top_three IS NULL FOR UPDATE")
        .bind(campaign)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes counted top-three lists where they are missing, one array per column.
pub async fn write_top_three(
    conn: &mut PgConnection,
    campaign: &CampaignId,
    rows: Vec<(CellRowKey, Vec<i64>)>,
) -> Result<()> {
    let (mut units, mut channels, mut carriers, mut strata, mut counts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((_, unit, channel, carrier, stratum), top_three) in rows {
        units.push(unit.to_string());
        channels.push(code(channel));
        carriers.push(carrier.code());
        strata.push(stratum.as_str().to_owned());
        counts.push(array_literal(&top_three));
    }
    sqlx::query(
        "UPDATE cell_stats AS c SET top_three = r.t::int8[] FROM UNNEST($2::text[], \
         $3::int2[], $4::int2[], $5::text[], $6::text[]) AS r(u, ch, ca, st, t) \
         WHERE c.campaign_id = $1 AND c.unit_id = r.u AND c.channel = r.ch \
         AND c.carrier = r.ca AND c.stratum = r.st AND c.top_three IS NULL",
    )
    .bind(campaign)
    .bind(units)
    .bind(channels)
    .bind(carriers)
    .bind(strata)
    .bind(counts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
