//! Call attempts, the cases they decide (one per respondent and campaign) and the count of
//! cases per final disposition that response rates read. A phone poll is its case's complete
//! interview while it is not rejected in review; the review withdraws and restores it here.

/// The columns [`CaseRow`] reads (a macro so queries stay string literals).
macro_rules! case_columns {
    () => {
        "campaign_id, respondent_hash, unit_id, carrier, disposition, decided_at, stand_in"
    };
}

pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;

use super::Store;
use super::values::{CarrierColumn, hash32};
use crate::domain::aapor::{
    AttemptOutcome, Disposition, Fallback, NewCallAttempt, Outcome, next_outcome, without_interview,
};
use crate::domain::channel::Carrier;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::submission::{NewSubmission, Source};
use crate::domain::time::Timestamp;
use crate::error::Result;

/// A call outcome to fold into a case (an attempt, or a completed phone poll).
#[derive(Debug, Clone)]
pub struct CaseUpdate {
    pub campaign_id: CampaignId,
    pub respondent: [u8; 32],
    pub unit_id: UnitId,
    pub carrier: CarrierColumn,
    pub outcome: Outcome,
}

impl CaseUpdate {
    pub fn of_attempt(attempt: &NewCallAttempt) -> Self {
        Self {
            campaign_id: attempt.campaign_id.clone(),
            respondent: attempt.respondent.0,
            unit_id: attempt.unit_id.clone(),
            carrier: CarrierColumn(Some(attempt.carrier)),
            outcome: Outcome {
                disposition: attempt.disposition,
                at: attempt.attempted_at,
            },
        }
    }
}

/// A phone poll as its call case knows it: a complete interview at the poll's end.
#[derive(Debug, Clone)]
pub struct Interview {
    pub campaign_id: CampaignId,
    pub respondent: [u8; 32],
    pub unit_id: UnitId,
    pub carrier: CarrierColumn,
    pub at: Timestamp,
}

impl Interview {
    pub fn key(&self) -> CaseKey {
        (self.campaign_id.clone(), self.respondent)
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            disposition: Disposition::Complete,
            at: self.at,
        }
    }

    /// The interview folded into its case like an attempt (a new poll, or an approval).
    pub fn update(&self) -> CaseUpdate {
        CaseUpdate {
            campaign_id: self.campaign_id.clone(),
            respondent: self.respondent,
            unit_id: self.unit_id.clone(),
            carrier: self.carrier,
            outcome: self.outcome(),
        }
    }
}

/// The complete-interview case updates of newly stored phone polls.
pub fn poll_case_updates<'a>(
    polls: impl IntoIterator<Item = &'a NewSubmission>,
) -> Vec<CaseUpdate> {
    polls
        .into_iter()
        .filter_map(|s| match &s.source {
            Source::Phone {
                respondent,
                carrier,
            } => Some(
                Interview {
                    campaign_id: s.campaign_id.clone(),
                    respondent: respondent.0,
                    unit_id: s.unit_id.clone(),
                    carrier: CarrierColumn(Some(*carrier)),
                    at: s.ended_at,
                }
                .update(),
            ),
            Source::Visit { .. } => None,
        })
        .collect()
}

/// A case as stored: the unit and carrier of its deciding attempt, and that attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub unit_id: UnitId,
    pub carrier: CarrierColumn,
    pub outcome: Outcome,
    /// No attempt decides the case: its interview was rejected and it has no other attempt,
    /// so it counts as an other eligible non-interview until one is logged.
    pub stand_in: bool,
}

impl StoredCase {
    /// The outcome that decides the case; none for a stand-in, which any attempt replaces.
    fn deciding(&self) -> Option<Outcome> {
        (!self.stand_in).then_some(self.outcome)
    }
}

/// A call_cases row as both dialects read it.
#[derive(sqlx::FromRow)]
pub struct CaseRow {
    campaign_id: CampaignId,
    respondent_hash: Vec<u8>,
    unit_id: UnitId,
    carrier: CarrierColumn,
    disposition: Disposition,
    decided_at: Timestamp,
    stand_in: bool,
}

impl CaseRow {
    pub fn into_case(self) -> Result<(CaseKey, StoredCase)> {
        Ok((
            (
                self.campaign_id,
                hash32(self.respondent_hash, "respondent hash")?,
            ),
            StoredCase {
                unit_id: self.unit_id,
                carrier: self.carrier,
                outcome: Outcome {
                    disposition: self.disposition,
                    at: self.decided_at,
                },
                stand_in: self.stand_in,
            },
        ))
    }
}

pub type CaseKey = (CampaignId, [u8; 32]);
pub type DispositionKey = (CampaignId, UnitId, CarrierColumn, Disposition);

/// Case changes and disposition-count deltas of a set of updates.
#[derive(Debug, Default)]
pub struct CaseChanges {
    pub cases: HashMap<CaseKey, StoredCase>,
    pub counts: HashMap<DispositionKey, i64>,
    /// The case's final disposition after each update, in update order.
    pub finals: Vec<Disposition>,
}

impl CaseChanges {
    /// The changed cases in key order: writers that lock rows in one order cannot deadlock.
    pub fn sorted_cases(&self) -> Vec<(&CaseKey, &StoredCase)> {
        let mut cases: Vec<_> = self.cases.iter().collect();
        cases.sort_by(|a, b| a.0.cmp(b.0));
        cases
    }

    /// The count deltas in key order.
    pub fn sorted_counts(&self) -> Vec<(&DispositionKey, i64)> {
        let mut counts: Vec<_> = self.counts.iter().map(|(k, n)| (k, *n)).collect();
        counts.sort_by(|a, b| a.0.cmp(b.0));
        counts
    }

    /// Moves the case `key` from `before` to `after`: its count leaves the old disposition's
    /// row and joins the new one's.
    fn change(&mut self, key: CaseKey, before: Option<StoredCase>, after: StoredCase) {
        let campaign = &key.0;
        if let Some(old) = before {
            *self
                .counts
                .entry((
                    campaign.clone(),
                    old.unit_id,
                    old.carrier,
                    old.outcome.disposition,
                ))
                .or_default() -= 1;
        }
        *self
            .counts
            .entry((
                campaign.clone(),
                after.unit_id.clone(),
                after.carrier,
                after.outcome.disposition,
            ))
            .or_default() += 1;
        self.cases.insert(key, after);
    }

    /// Drops the count deltas that cancelled out.
    fn settled(mut self) -> Self {
        self.counts.retain(|_, n| *n != 0);
        self
    }
}

/// Folds `updates`, in order, into the `current` cases: a case moves from one disposition count
/// to another only when its deciding attempt changes.
pub fn fold_cases(
    mut current: HashMap<CaseKey, StoredCase>,
    updates: &[CaseUpdate],
) -> CaseChanges {
    let mut changes = CaseChanges::default();
    for u in updates {
        let key = (u.campaign_id.clone(), u.respondent);
        let before = current.get(&key).cloned();
        let deciding = before.as_ref().and_then(StoredCase::deciding);
        let outcome = next_outcome(deciding, u.outcome);
        changes.finals.push(outcome.disposition);
        if deciding == Some(outcome) {
            continue;
        }
        let after = StoredCase {
            unit_id: u.unit_id.clone(),
            carrier: u.carrier,
            outcome,
            stand_in: false,
        };
        current.insert(key.clone(), after.clone());
        changes.change(key, before, after);
    }
    changes.settled()
}

/// A call_attempts row as a case's recomputation reads it.
#[derive(sqlx::FromRow)]
pub struct CaseAttemptRow {
    unit_id: UnitId,
    carrier: CarrierColumn,
    disposition: Disposition,
    attempted_at: Timestamp,
}

/// The attempts of one case (campaign, respondent), in the order they were logged.
pub const SELECT_CASE_ATTEMPTS: &str = "SELECT unit_id, carrier, disposition, attempted_at \
     FROM call_attempts WHERE campaign_id = $1 AND respondent_hash = $2 ORDER BY seq";

/// The change to `interview`'s case (`current`, when it exists) once the interview no longer
/// counts: the domain's fallback over the case's other `attempts`.
pub fn withdrawal(
    current: Option<StoredCase>,
    interview: &Interview,
    attempts: Vec<CaseAttemptRow>,
) -> CaseChanges {
    let outcomes: Vec<Outcome> = attempts
        .iter()
        .map(|a| Outcome {
            disposition: a.disposition,
            at: a.attempted_at,
        })
        .collect();
    let after = match without_interview(interview.outcome(), &outcomes) {
        Fallback::Attempt(i) => StoredCase {
            unit_id: attempts[i].unit_id.clone(),
            carrier: attempts[i].carrier,
            outcome: outcomes[i],
            stand_in: false,
        },
        Fallback::StandIn(outcome) => StoredCase {
            unit_id: interview.unit_id.clone(),
            carrier: interview.carrier,
            outcome,
            stand_in: true,
        },
    };
    let mut changes = CaseChanges::default();
    if current.as_ref() != Some(&after) {
        changes.change(interview.key(), current, after);
    }
    changes.settled()
}

#[derive(sqlx::FromRow)]
struct RecordedAttempt {
    content_hash: Vec<u8>,
    accepted_at: Timestamp,
    disposition: Disposition,
}

/// Records the attempt unless its id is known, and folds it into its case.
pub async fn commit_attempt(
    store: &Store,
    attempt: &NewCallAttempt,
    accepted_at: Timestamp,
) -> Result<AttemptOutcome> {
    let outcome = transaction!(store, |tx, dialect| {
        let inserted = sqlx::query(
            "INSERT INTO call_attempts (campaign_id, attempt_id, content_hash, respondent_hash, \
             unit_id, carrier, disposition, attempted_at, submitted_by, accepted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&attempt.campaign_id)
        .bind(attempt.id)
        .bind(attempt.content_hash().to_vec())
        .bind(attempt.respondent.0.as_slice())
        .bind(&attempt.unit_id)
        .bind(attempt.carrier)
        .bind(attempt.disposition)
        .bind(attempt.attempted_at)
        .bind(&attempt.submitted_by)
        .bind(accepted_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let update = CaseUpdate::of_attempt(attempt);
            let finals = dialect::apply_case_updates(&mut *tx, &[update]).await?;
            AttemptOutcome::Inserted {
                accepted_at,
                case: finals[0],
            }
        } else {
            let recorded: RecordedAttempt = sqlx::query_as(
                "SELECT a.content_hash, a.accepted_at, c.disposition FROM call_attempts a \
                 JOIN call_cases c ON c.campaign_id = a.campaign_id \
                 AND c.respondent_hash = a.respondent_hash \
                 WHERE a.campaign_id = $1 AND a.attempt_id = $2",
            )
            .bind(&attempt.campaign_id)
            .bind(attempt.id)
            .fetch_one(&mut *tx)
            .await?;
            AttemptOutcome::Existing {
                content_hash: hash32(recorded.content_hash, "content hash")?,
                accepted_at: recorded.accepted_at,
                case: recorded.disposition,
            }
        }
    });
    Ok(outcome)
}

#[derive(sqlx::FromRow)]
struct CountRow {
    unit_id: UnitId,
    carrier: CarrierColumn,
    disposition: Disposition,
    cases: i64,
}

pub async fn disposition_counts(
    store: &Store,
    campaign: &CampaignId,
) -> Result<Vec<(UnitId, Option<Carrier>, Disposition, i64)>> {
    let rows: Vec<CountRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT unit_id, carrier, disposition, cases FROM disposition_counts \
             WHERE campaign_id = $1 AND cases <> 0",
        )
        .bind(campaign)
        .fetch_all(db)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| (r.unit_id, r.carrier.0, r.disposition, r.cases))
        .collect())
}
