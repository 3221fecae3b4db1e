//! PostgreSQL: migrations, and backfills that lock what they complete, since a current server
//! may be ingesting into the same database meanwhile.

use futures::TryStreamExt;

use super::{CONTRIBUTIONS, StoredContribution, TopThreeCount};
use crate::domain::campaign::Campaign;
use crate::domain::ids::CampaignId;
use crate::domain::questionnaire::Questionnaire;
use crate::error::Result;
use crate::store::postgres::PgStore;
use crate::store::values::{array_literal, code};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub async fn migrate(db: &PgStore) -> Result<()> {
    MIGRATOR.run(&db.pool).await?;
    Ok(())
}

/// Counts each campaign's top-three answers in a transaction of its own. Its uncounted rows
/// are locked first: a server process ingesting meanwhile adds to a row after its count, or
/// its submissions are counted in it.
pub async fn count_top_three(
    db: &PgStore,
    uncounted: &[CampaignId],
    campaigns: &[Campaign],
    questionnaires: &[Questionnaire],
) -> Result<()> {
    for id in uncounted {
        let mut count = TopThreeCount::of(campaigns, questionnaires, id)?;
        let mut tx = db.pool.begin().await?;
        sqlx::query(
            "SELECT 1 FROM cell_stats WHERE campaign_id = $1 AND top_three IS NULL FOR UPDATE",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut stored = sqlx::query_as::<_, StoredContribution>(CONTRIBUTIONS)
            .bind(id)
            .fetch(&mut *tx);
        while let Some(row) = stored.try_next().await? {
            count.add(row);
        }
        drop(stored);
        let (mut units, mut channels, mut carriers, mut strata, mut counts) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((_, unit, channel, carrier, stratum), top_three) in count.rows() {
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
        .bind(id)
        .bind(units)
        .bind(channels)
        .bind(carriers)
        .bind(strata)
        .bind(counts)
        .execute(&mut *tx)
        .await?;
        // Rows whose submissions were all rejected since.
        sqlx::query(
            "UPDATE cell_stats SET top_three = '{}' WHERE campaign_id = $1 \
             AND top_three IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
