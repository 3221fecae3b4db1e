//! Review of submissions: the listing reviewers page through, the state changes with their
//! aggregate change and, for phone polls, their call case's, and the audit trail. The core
//! decides; this module loads the row under the write lock and writes what was decided in the
//! same transaction.

/// The columns [`SummaryRow`] reads (a macro so queries stay string literals).
macro_rules! summary_columns {
    () => {
        "seq, campaign_id, submission_id, unit_id, channel, review_state, quality_flags, \
         started_at, ended_at, accepted_at, submitted_by"
    };
}

pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;

use sqlx::types::Json;
use uuid::Uuid;

use super::aggregates::{Contribution, Deltas};
use super::calls::Interview;
use super::values::{CarrierColumn, Flags, hash32};
use super::{ListQuery, Store, audit};
use crate::domain::audit::AuditEntry;
use crate::domain::campaign::Campaign;
use crate::domain::channel::Channel;
use crate::domain::flags::Flag;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::{Decision, ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct SummaryRow {
    seq: i64,
    campaign_id: CampaignId,
    submission_id: Uuid,
    unit_id: UnitId,
    channel: Channel,
    review_state: ReviewState,
    quality_flags: Flags,
    started_at: Timestamp,
    ended_at: Timestamp,
    accepted_at: Timestamp,
    submitted_by: String,
}

impl SummaryRow {
    fn into_summary(self) -> (i64, SubmissionSummary) {
        (
            self.seq,
            SubmissionSummary {
                submission_id: self.submission_id,
                campaign_id: self.campaign_id,
                unit_id: self.unit_id,
                channel: self.channel,
                state: self.review_state,
                flags: self.quality_flags.0,
                started_at: self.started_at,
                ended_at: self.ended_at,
                accepted_at: self.accepted_at,
                submitted_by: self.submitted_by,
            },
        )
    }
}

/// A submission as a review reads it: its summary and what it adds to the aggregates.
#[derive(sqlx::FromRow)]
struct ReviewedRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    carrier: CarrierColumn,
    /// Phone polls only.
    respondent_hash: Option<Vec<u8>>,
    answers: Json<BTreeMap<String, String>>,
    respondent_attributes: Json<BTreeMap<String, String>>,
}

/// A reviewed phone poll as its call case knows it; `None` for a visit.
fn interview(
    summary: &SubmissionSummary,
    carrier: CarrierColumn,
    respondent_hash: Option<Vec<u8>>,
) -> Result<Option<Interview>> {
    let Some(respondent) = respondent_hash else {
        return Ok(None);
    };
    Ok(Some(Interview {
        campaign_id: summary.campaign_id.clone(),
        respondent: hash32(respondent, "respondent hash")?,
        unit_id: summary.unit_id.clone(),
        carrier,
        at: summary.ended_at,
    }))
}

/// What a reviewer decided about a submission.
#[derive(Debug, Clone)]
pub struct ReviewChange {
    pub decision: Decision,
    pub to: ReviewState,
    pub reviewer: String,
    pub reason: String,
    pub at: Timestamp,
    /// Recorded in the decision's transaction.
    pub audit: AuditEntry,
}

pub async fn list_submissions(
    store: &Store,
    query: &ListQuery,
    state: ReviewState,
    flag: Option<Flag>,
) -> Result<Vec<(i64, SubmissionSummary)>> {
    let rows: Vec<SummaryRow> = read!(store, |db, dialect| {
        sqlx::query_as(dialect::LIST_SUBMISSIONS)
            .bind(&query.campaign_id)
            .bind(state)
            .bind(query.after)
            .bind(dialect::units_filter(query.units.as_deref()))
            .bind(flag.map(Flag::name))
            .bind(query.limit as i64)
            .fetch_all(db)
            .await?
    });
    Ok(rows.into_iter().map(SummaryRow::into_summary).collect())
}

/// Loads the submission under the write lock, lets `decide` judge it, and writes the decision,
/// its aggregate change (when the submission enters or leaves the figures), its call case's
/// change (when a phone poll stops or starts being an interview) and its audit entry in one
/// transaction.
pub async fn review_submission(
    store: &Store,
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    submission_id: Uuid,
    decide: impl FnOnce(&SubmissionSummary) -> Result<ReviewChange> + Send,
) -> Result<(SubmissionSummary, Deltas)> {
    let done = transaction!(store, |tx, dialect| {
        let row: ReviewedRow = sqlx::query_as(dialect::SELECT_FOR_REVIEW)
            .bind(&campaign.id)
            .bind(submission_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("submission", submission_id.to_string()))?;
        let (_, before) = row.summary.into_summary();
        let interview = interview(&before, row.carrier, row.respondent_hash)?;
        let change = decide(&before)?;
        let mut deltas = Deltas::default();
        sqlx::query(
            "UPDATE submissions SET review_state = $1 \
             WHERE campaign_id = $2 AND submission_id = $3",
        )
        .bind(change.to)
        .bind(&campaign.id)
        .bind(submission_id)
        .execute(&mut *tx)
        .await?;
        if before.state.counts() != change.to.counts() {
            let contribution = Contribution::of_stored(
                campaign,
                questionnaire,
                before.unit_id.clone(),
                before.channel,
                row.carrier,
                &row.answers.0,
                &row.respondent_attributes.0,
            );
            deltas.add_stored(&contribution, if change.to.counts() { 1 } else { -1 });
            dialect::apply_deltas(&mut *tx, &deltas).await?;
        }
        if let Some(interview) =
            interview.filter(|_| before.state.is_interview() != change.to.is_interview())
        {
            if change.to.is_interview() {
                dialect::apply_case_updates(&mut *tx, &[interview.update()]).await?;
            } else {
                dialect::withdraw_interview(&mut *tx, &interview).await?;
            }
        }
        sqlx::query(
            "INSERT INTO review_actions (campaign_id, submission_id, reviewer, decision, \
             from_state, to_state, reason, acted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&campaign.id)
        .bind(submission_id)
        .bind(&change.reviewer)
        .bind(change.decision)
        .bind(before.state)
        .bind(change.to)
        .bind(&change.reason)
        .bind(change.at)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut *tx, &change.audit).await?;
        (
            SubmissionSummary {
                state: change.to,
                ..before
            },
            deltas,
        )
    });
    Ok(done)
}

#[derive(sqlx::FromRow)]
struct ActionRow {
    seq: i64,
    campaign_id: CampaignId,
    submission_id: Uuid,
    reviewer: String,
    decision: Decision,
    from_state: ReviewState,
    to_state: ReviewState,
    reason: String,
    acted_at: Timestamp,
}

pub async fn list_actions(
    store: &Store,
    query: &ListQuery,
    submission: Option<Uuid>,
) -> Result<Vec<(i64, ReviewAction)>> {
    let rows: Vec<ActionRow> = read!(store, |db, dialect| {
        sqlx::query_as(dialect::LIST_ACTIONS)
            .bind(&query.campaign_id)
            .bind(query.after)
            .bind(submission)
            .bind(query.limit as i64)
            .fetch_all(db)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.seq,
                ReviewAction {
                    campaign_id: r.campaign_id,
                    submission_id: r.submission_id,
                    reviewer: r.reviewer,
                    decision: r.decision,
                    from: r.from_state,
                    to: r.to_state,
                    reason: r.reason,
                    at: r.acted_at,
                },
            )
        })
        .collect())
}
