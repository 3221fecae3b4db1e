//! Schema migrations (`migrations/<backend>/`) and the backfills that complete what servers
//! older than a migration left uncounted, run before a server takes any write.

pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;

use futures::{Stream, TryStreamExt};
use sqlx::types::Json;

use super::Store;
use super::aggregates::{CellRowKey, Contribution, Deltas, flat_top_three};
use super::calls::Interview;
use super::values::{CarrierColumn, Counts, hash32};
use crate::domain::aapor::Disposition;
use crate::domain::campaign::Campaign;
use crate::domain::channel::Channel;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::ReviewState;
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

pub async fn run(store: &Store) -> Result<()> {
    match store {
        Store::Sqlite(db) => sqlite::migrate(db).await?,
        Store::Postgres(db) => postgres::migrate(db).await?,
    }
    count_top_three(store).await?;
    withdraw_rejected_interviews(store).await
}

/// Campaigns with aggregate rows written before top-three answers were counted.
const UNCOUNTED: &str = "SELECT DISTINCT campaign_id FROM cell_stats WHERE top_three IS NULL";

/// The columns of a stored submission that decide what it adds to the aggregates.
const CONTRIBUTIONS: &str = "SELECT unit_id, channel, carrier, answers, respondent_attributes, \
     review_state FROM submissions WHERE campaign_id = $1";

/// Gives the rows still uncounted after their campaign's count (those whose submissions were
/// all rejected since) an empty list.
const NONE_COUNTED: &str =
    "UPDATE cell_stats SET top_three = $2 WHERE campaign_id = $1 AND top_three IS NULL";

/// Counts the top-three answers of aggregate rows written before those counts were kept, from
/// their campaigns' counted submissions.
async fn count_top_three(store: &Store) -> Result<()> {
    let uncounted: Vec<CampaignId> = read!(store, |db| {
        sqlx::query_scalar(UNCOUNTED).fetch_all(db).await?
    });
    if uncounted.is_empty() {
        return Ok(());
    }
    let (campaigns, questionnaires) = (
        super::catalog::load_campaigns(store).await?,
        super::catalog::load_questionnaires(store).await?,
    );
    for id in &uncounted {
        let count = TopThreeCount::of(&campaigns, &questionnaires, id)?;
        // One transaction per campaign, its uncounted rows locked first where other server
        // processes may be ingesting meanwhile.
        transaction!(store, |tx, dialect| {
            dialect::lock_uncounted(&mut *tx, id).await?;
            let mut count = count;
            count
                .add_all(sqlx::query_as(CONTRIBUTIONS).bind(id).fetch(&mut *tx))
                .await?;
            dialect::write_top_three(&mut *tx, id, count.rows()).await?;
            sqlx::query(NONE_COUNTED)
                .bind(id)
                .bind(Counts::default())
                .execute(&mut *tx)
                .await?;
        });
    }
    Ok(())
}

/// Rejected phone polls of a campaign whose call case still counts them as its complete
/// interview: rejected by a server older than the rule that a rejected interview is not one.
/// (A case a complete attempt at the same moment decides matches too; withdrawing the poll
/// from it changes nothing.)
const STILL_INTERVIEWED: &str = "SELECT s.submission_id FROM submissions s JOIN call_cases c \
     ON c.campaign_id = s.campaign_id AND c.respondent_hash = s.respondent_hash \
     WHERE s.campaign_id = $1 AND s.review_state = $2 AND s.respondent_hash IS NOT NULL \
     AND c.disposition = $3 AND c.decided_at = s.ended_at AND NOT c.stand_in";

/// A rejected phone poll, as its call case knows it.
#[derive(sqlx::FromRow)]
pub struct RejectedPoll {
    campaign_id: CampaignId,
    unit_id: UnitId,
    carrier: CarrierColumn,
    respondent_hash: Vec<u8>,
    ended_at: Timestamp,
}

impl RejectedPoll {
    fn into_interview(self) -> Result<Interview> {
        Ok(Interview {
            campaign_id: self.campaign_id,
            respondent: hash32(self.respondent_hash, "respondent hash")?,
            unit_id: self.unit_id,
            carrier: self.carrier,
            at: self.ended_at,
        })
    }
}

/// Takes phone polls rejected by older servers out of their call cases, each in a transaction
/// that locks the poll first (as a review does) and withdraws it only if it is still rejected.
async fn withdraw_rejected_interviews(store: &Store) -> Result<()> {
    for campaign in super::catalog::load_campaigns(store).await? {
        let rejected: Vec<uuid::Uuid> = read!(store, |db| {
            sqlx::query_scalar(STILL_INTERVIEWED)
                .bind(&campaign.id)
                .bind(ReviewState::Rejected)
                .bind(Disposition::Complete)
                .fetch_all(db)
                .await?
        });
        for id in rejected {
            transaction!(store, |tx, dialect| {
                let poll: Option<RejectedPoll> = sqlx::query_as(dialect::LOCK_REJECTED_POLL)
                    .bind(&campaign.id)
                    .bind(id)
                    .bind(ReviewState::Rejected)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(poll) = poll {
                    dialect::withdraw_interview(&mut *tx, &poll.into_interview()?).await?;
                }
            });
        }
    }
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct StoredContribution {
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: CarrierColumn,
    pub answers: Json<BTreeMap<String, String>>,
    pub respondent_attributes: Json<BTreeMap<String, String>>,
    pub review_state: ReviewState,
}

/// Counts the top-three answers of every aggregate row of one campaign from its stored
/// submissions (those whose review state counts). Takes one row at a time: a campaign may
/// hold millions.
pub struct TopThreeCount<'a> {
    campaign: &'a Campaign,
    questionnaire: &'a Questionnaire,
    deltas: Deltas,
}

impl<'a> TopThreeCount<'a> {
    /// The counter of a campaign of the loaded catalog.
    pub fn of(
        campaigns: &'a [Campaign],
        questionnaires: &'a [Questionnaire],
        id: &CampaignId,
    ) -> Result<Self> {
        let campaign = campaigns
            .iter()
            .find(|c| &c.id == id)
            .ok_or_else(|| Error::internal(format!("aggregates of unknown campaign {id:?}")))?;
        let questionnaire = questionnaires
            .iter()
            .find(|q| q.id == campaign.questionnaire_id)
            .ok_or_else(|| Error::internal(format!("campaign {id:?} without its questionnaire")))?;
        Ok(Self::new(campaign, questionnaire))
    }

    pub fn new(campaign: &'a Campaign, questionnaire: &'a Questionnaire) -> Self {
        Self {
            campaign,
            questionnaire,
            deltas: Deltas::default(),
        }
    }

    pub fn add(&mut self, row: StoredContribution) {
        if !row.review_state.counts() {
            return;
        }
        let counted = Contribution::of_stored(
            self.campaign,
            self.questionnaire,
            row.unit_id,
            row.channel,
            row.carrier,
            &row.answers.0,
            &row.respondent_attributes.0,
        );
        self.deltas.add_stored(&counted, 1);
    }

    /// Adds every submission of `stored`, one row at a time.
    pub async fn add_all(
        &mut self,
        mut stored: impl Stream<Item = Result<StoredContribution, sqlx::Error>> + Unpin,
    ) -> Result<()> {
        while let Some(row) = stored.try_next().await? {
            self.add(row);
        }
        Ok(())
    }

    /// Each row's key with its counts, one per indicator.
    pub fn rows(self) -> Vec<(CellRowKey, Vec<i64>)> {
        self.deltas
            .cells
            .into_iter()
            .map(|(key, figures)| (key, flat_top_three(&figures)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::Code;
    use crate::domain::questionnaire::{AnswerOption, Indicator, OptionValue};
    use crate::domain::time::Timestamp;

    #[test]
    fn top_three_counts_come_from_the_submissions_that_count() {
        let options =
            [("a", 100), ("b", 80), ("c", 50), ("d", 20), ("e", 0)].map(|(code, points)| {
                AnswerOption {
                    code: Code::parse(code).unwrap(),
                    label: String::new(),
                    value: OptionValue::Points(points),
                }
            });
        let questionnaire = Questionnaire {
            id: crate::domain::ids::QuestionnaireId::parse("q").unwrap(),
            name: "q".into(),
            indicators: vec![Indicator {
                code: Code::parse("security").unwrap(),
                text: String::new(),
                weight: 1.0,
                options: options.to_vec(),
            }],
            created_at: Timestamp::from_micros(0),
        };
        let campaign = Campaign::for_tests("c", &questionnaire.id, "u");
        let stored = |option: &str, state: ReviewState| StoredContribution {
            unit_id: UnitId::parse("u").unwrap(),
            channel: Channel::Visit,
            carrier: CarrierColumn(None),
            answers: Json(BTreeMap::from([("security".into(), option.into())])),
            respondent_attributes: Json(BTreeMap::new()),
            review_state: state,
        };
        let rows = [
            stored("a", ReviewState::Received),
            stored("c", ReviewState::Approved),
            stored("d", ReviewState::Received),
            // Waiting for review, or rejected: not in the aggregates.
            stored("b", ReviewState::Flagged),
            stored("a", ReviewState::Rejected),
        ];
        let mut count = TopThreeCount::new(&campaign, &questionnaire);
        for row in rows {
            count.add(row);
        }
        let counts = count.rows();
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].1, vec![2]);
    }
}
