//! SQLite: migrations and backfills run on the writer connection, in one transaction.

use futures::TryStreamExt;
use sqlx::Connection;

use super::{CONTRIBUTIONS, StoredContribution, TopThreeCount};
use crate::domain::campaign::Campaign;
use crate::domain::ids::CampaignId;
use crate::domain::questionnaire::Questionnaire;
use crate::error::Result;
use crate::store::aggregates::sqlite::to_json;
use crate::store::sqlite::SqliteStore;
use crate::store::values::{Counts, code};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub async fn migrate(db: &SqliteStore) -> Result<()> {
    MIGRATOR.run(&mut db.writer().await.connection).await?;
    Ok(())
}

/// Counts each campaign's top-three answers and writes them where they are missing. The writer
/// is held throughout, so no batch adds to a row between its count and its write.
pub async fn count_top_three(
    db: &SqliteStore,
    uncounted: &[CampaignId],
    campaigns: &[Campaign],
    questionnaires: &[Questionnaire],
) -> Result<()> {
    let mut writer = db.writer().await;
    let mut tx = writer.connection.begin().await?;
    for id in uncounted {
        let mut count = TopThreeCount::of(campaigns, questionnaires, id)?;
        let mut stored = sqlx::query_as::<_, StoredContribution>(CONTRIBUTIONS)
            .bind(id)
            .fetch(&mut *tx);
        while let Some(row) = stored.try_next().await? {
            count.add(row);
        }
        drop(stored);
        let counts: Vec<_> = count
            .rows()
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
        .bind(to_json(&counts))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Rows whose submissions were all rejected since.
        sqlx::query(
            "UPDATE cell_stats SET top_three = '[]' WHERE campaign_id = $1 \
             AND top_three IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
