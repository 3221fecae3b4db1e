//! SQLite: call cases, review and grievances.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row, SqliteConnection};
use uuid::Uuid;

use super::super::codec::{CaseUpdate, StoredCase, carrier_from_column, fold_cases};
use super::super::{ListQuery, ReviewRequest};
use super::{SqliteStore, apply_deltas, channel_from_row, parse_stored};
use crate::domain::aapor::{AttemptOutcome, Disposition, NewCallAttempt, Outcome};
use crate::domain::channel::Carrier;
use crate::domain::flags::{Flag, decode_flags};
use crate::domain::grievance::{Grievance, GrievanceStatus, Urgency};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::review::{Decision, ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

/// Folds call outcomes into their cases and the per-disposition counts; returns each update's
/// resulting case disposition.
pub(super) async fn apply_case_updates(
    conn: &mut SqliteConnection,
    updates: &[CaseUpdate],
) -> Result<Vec<Disposition>> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let mut current = HashMap::new();
    for u in updates {
        let row = sqlx::query(
            "SELECT unit_id, carrier, disposition, decided_at FROM call_cases \
             WHERE campaign_id = ? AND respondent_hash = ?",
        )
        .bind(u.campaign_id.as_str())
        .bind(u.respondent.as_slice())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            current.insert((u.campaign_id.clone(), u.respondent), stored_case(&row)?);
        }
    }
    let changes = fold_cases(current, updates);
    for ((campaign, respondent), case) in &changes.cases {
        sqlx::query(
            "INSERT INTO call_cases (campaign_id, respondent_hash, unit_id, carrier, disposition, \
             decided_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (campaign_id, respondent_hash) DO UPDATE SET unit_id = excluded.unit_id, \
             carrier = excluded.carrier, disposition = excluded.disposition, \
             decided_at = excluded.decided_at",
        )
        .bind(campaign.as_str())
        .bind(respondent.as_slice())
        .bind(case.unit_id.as_str())
        .bind(case.carrier)
        .bind(case.outcome.disposition.as_i16())
        .bind(case.outcome.at.as_micros())
        .execute(&mut *conn)
        .await?;
    }
    for ((campaign, unit, carrier, disposition), delta) in &changes.counts {
        sqlx::query(
            "INSERT INTO disposition_counts (campaign_id, unit_id, carrier, disposition, cases) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign_id, unit_id, carrier, disposition) \
             DO UPDATE SET cases = cases + excluded.cases",
        )
        .bind(campaign.as_str())
        .bind(unit.as_str())
        .bind(*carrier)
        .bind(disposition.as_i16())
        .bind(*delta)
        .execute(&mut *conn)
        .await?;
    }
    Ok(changes.finals)
}

fn stored_case(row: &SqliteRow) -> Result<StoredCase> {
    Ok(StoredCase {
        unit_id: parse_stored(row.get("unit_id"), UnitId::parse)?,
        carrier: row.get("carrier"),
        outcome: Outcome {
            disposition: disposition(row.get("disposition"))?,
            at: Timestamp::from_micros(row.get("decided_at")),
        },
    })
}

fn disposition(value: i16) -> Result<Disposition> {
    Disposition::from_i16(value).ok_or_else(|| Error::internal("stored disposition unknown"))
}

fn review_state(value: i16) -> Result<ReviewState> {
    ReviewState::from_i16(value).ok_or_else(|| Error::internal("stored review state unknown"))
}

/// The units filter as a JSON array for `json_each`, or NULL for no filter.
fn units_json(units: &Option<Vec<UnitId>>) -> Option<String> {
    units.as_ref().map(|units| {
        serde_json::to_string(&units.iter().map(UnitId::as_str).collect::<Vec<_>>())
            .expect("unit ids always serialise")
    })
}

/// The columns `summary` reads (a macro so queries stay string literals).
macro_rules! summary_columns {
    () => {
        "seq, campaign_id, submission_id, unit_id, channel, review_state, quality_flags, \
         started_at, ended_at, accepted_at, submitted_by"
    };
}

fn summary(row: &SqliteRow) -> Result<SubmissionSummary> {
    Ok(SubmissionSummary {
        submission_id: row.get("submission_id"),
        campaign_id: parse_stored(row.get("campaign_id"), CampaignId::parse)?,
        unit_id: parse_stored(row.get("unit_id"), UnitId::parse)?,
        channel: channel_from_row(row)?,
        state: review_state(row.get("review_state"))?,
        flags: decode_flags(row.get("quality_flags")),
        started_at: Timestamp::from_micros(row.get("started_at")),
        ended_at: Timestamp::from_micros(row.get("ended_at")),
        accepted_at: Timestamp::from_micros(row.get("accepted_at")),
        submitted_by: row.get("submitted_by"),
    })
}

fn grievance(row: &SqliteRow) -> Result<Grievance> {
    Ok(Grievance {
        id: row.get("grievance_id"),
        campaign_id: parse_stored(row.get("campaign_id"), CampaignId::parse)?,
        unit_id: parse_stored(row.get("unit_id"), UnitId::parse)?,
        submission_id: row.get("submission_id"),
        category: row.get("category"),
        description: row.get("description"),
        urgency: Urgency::from_i16(row.get("urgency"))
            .ok_or_else(|| Error::internal("stored urgency unknown"))?,
        status: GrievanceStatus::from_i16(row.get("status"))
            .ok_or_else(|| Error::internal("stored grievance status unknown"))?,
        raised_at: Timestamp::from_micros(row.get("raised_at")),
        resolved_at: row
            .get::<Option<i64>, _>("resolved_at")
            .map(Timestamp::from_micros),
        updated_at: Timestamp::from_micros(row.get("updated_at")),
    })
}

impl SqliteStore {
    pub async fn commit_call_attempt(
        &self,
        attempt: &NewCallAttempt,
        accepted_at: Timestamp,
    ) -> Result<AttemptOutcome> {
        let mut writer = self.writer().await;
        let mut tx = writer.connection.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO call_attempts (campaign_id, attempt_id, content_hash, respondent_hash, \
             unit_id, carrier, disposition, attempted_at, submitted_by, accepted_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(attempt.campaign_id.as_str())
        .bind(attempt.id)
        .bind(attempt.content_hash().to_vec())
        .bind(attempt.respondent.0.as_slice())
        .bind(attempt.unit_id.as_str())
        .bind(attempt.carrier.as_i16())
        .bind(attempt.disposition.as_i16())
        .bind(attempt.attempted_at.as_micros())
        .bind(&attempt.submitted_by)
        .bind(accepted_at.as_micros())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let finals = apply_case_updates(&mut tx, &[CaseUpdate::of_attempt(attempt)]).await?;
            tx.commit().await?;
            return Ok(AttemptOutcome::Inserted {
                accepted_at,
                case: finals[0],
            });
        }
        let row = sqlx::query(
            "SELECT a.content_hash, a.accepted_at, c.disposition FROM call_attempts a \
             JOIN call_cases c ON c.campaign_id = a.campaign_id \
             AND c.respondent_hash = a.respondent_hash \
             WHERE a.campaign_id = ? AND a.attempt_id = ?",
        )
        .bind(attempt.campaign_id.as_str())
        .bind(attempt.id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let hash: Vec<u8> = row.get("content_hash");
        Ok(AttemptOutcome::Existing {
            content_hash: hash
                .try_into()
                .map_err(|_| Error::internal("stored content hash is not 32 bytes"))?,
            accepted_at: Timestamp::from_micros(row.get("accepted_at")),
            case: disposition(row.get("disposition"))?,
        })
    }

    pub async fn disposition_counts(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<(UnitId, Option<Carrier>, Disposition, i64)>> {
        let rows = sqlx::query(
            "SELECT unit_id, carrier, disposition, cases FROM disposition_counts \
             WHERE campaign_id = ? AND cases <> 0",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_stored(row.get("unit_id"), UnitId::parse)?,
                    carrier_from_column(row.get("carrier")),
                    disposition(row.get("disposition"))?,
                    row.get("cases"),
                ))
            })
            .collect()
    }

    pub async fn list_submissions(
        &self,
        query: &ListQuery,
        state: ReviewState,
        flag: Option<Flag>,
    ) -> Result<Vec<(i64, SubmissionSummary)>> {
        let units = units_json(&query.units);
        let rows = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            " FROM submissions WHERE campaign_id = ? AND review_state = ? \
             AND seq > ? AND (? IS NULL OR unit_id IN (SELECT value FROM json_each(?))) \
             AND (? IS NULL OR instr(',' || quality_flags || ',', ',' || ? || ',') > 0) \
             ORDER BY seq LIMIT ?"
        ))
        .bind(query.campaign_id.as_str())
        .bind(state.as_i16())
        .bind(query.after)
        .bind(units.clone())
        .bind(units)
        .bind(flag.map(Flag::name))
        .bind(flag.map(Flag::name))
        .bind(query.limit as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| Ok((row.get("seq"), summary(row)?)))
            .collect()
    }

    pub async fn review_submission(&self, review: &ReviewRequest<'_>) -> Result<SubmissionSummary> {
        let mut writer = self.writer().await;
        let mut tx = writer.connection.begin().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            ", carrier, answers, respondent_attributes FROM submissions \
             WHERE campaign_id = ? AND submission_id = ?"
        ))
        .bind(review.campaign.id.as_str())
        .bind(review.submission_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::not_found("submission", review.submission_id.to_string()))?;
        let before = summary(&row)?;
        let to = review.transition(&before)?;
        sqlx::query(
            "UPDATE submissions SET review_state = ? WHERE campaign_id = ? AND submission_id = ?",
        )
        .bind(to.as_i16())
        .bind(review.campaign.id.as_str())
        .bind(review.submission_id)
        .execute(&mut *tx)
        .await?;
        let carrier = row.get("carrier");
        let answers = row.get("answers");
        let attributes = row.get("respondent_attributes");
        if let Some(deltas) = review.deltas(&before, to, carrier, answers, attributes)? {
            apply_deltas(&mut tx, &deltas).await?;
        }
        sqlx::query(
            "INSERT INTO review_actions (campaign_id, submission_id, reviewer, decision, \
             from_state, to_state, reason, acted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(review.campaign.id.as_str())
        .bind(review.submission_id)
        .bind(review.reviewer)
        .bind(review.decision.as_i16())
        .bind(before.state.as_i16())
        .bind(to.as_i16())
        .bind(review.reason)
        .bind(review.at.as_micros())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SubmissionSummary {
            state: to,
            ..before
        })
    }

    pub async fn list_review_actions(
        &self,
        query: &ListQuery,
        submission: Option<Uuid>,
    ) -> Result<Vec<(i64, ReviewAction)>> {
        let rows = sqlx::query(
            "SELECT seq, campaign_id, submission_id, reviewer, decision, from_state, to_state, \
             reason, acted_at FROM review_actions WHERE campaign_id = ? AND seq > ? \
             AND (? IS NULL OR submission_id = ?) ORDER BY seq LIMIT ?",
        )
        .bind(query.campaign_id.as_str())
        .bind(query.after)
        .bind(submission)
        .bind(submission)
        .bind(query.limit as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.get("seq"),
                    ReviewAction {
                        campaign_id: parse_stored(row.get("campaign_id"), CampaignId::parse)?,
                        submission_id: row.get("submission_id"),
                        reviewer: row.get("reviewer"),
                        decision: Decision::from_i16(row.get("decision"))
                            .ok_or_else(|| Error::internal("stored decision unknown"))?,
                        from: review_state(row.get("from_state"))?,
                        to: review_state(row.get("to_state"))?,
                        reason: row.get("reason"),
                        at: Timestamp::from_micros(row.get("acted_at")),
                    },
                ))
            })
            .collect()
    }

    pub async fn list_grievances(
        &self,
        query: &ListQuery,
        status: Option<GrievanceStatus>,
    ) -> Result<Vec<(i64, Grievance)>> {
        let units = units_json(&query.units);
        let rows = sqlx::query(
            "SELECT * FROM grievances WHERE campaign_id = ? AND seq > ? \
             AND (? IS NULL OR unit_id IN (SELECT value FROM json_each(?))) \
             AND (? IS NULL OR status = ?) ORDER BY seq LIMIT ?",
        )
        .bind(query.campaign_id.as_str())
        .bind(query.after)
        .bind(units.clone())
        .bind(units)
        .bind(status.map(GrievanceStatus::as_i16))
        .bind(status.map(GrievanceStatus::as_i16))
        .bind(query.limit as i64)
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| Ok((row.get("seq"), grievance(row)?)))
            .collect()
    }

    pub async fn update_grievance(
        &self,
        campaign: &CampaignId,
        grievance_id: &str,
        status: GrievanceStatus,
        at: Timestamp,
        allowed_units: Option<&[UnitId]>,
    ) -> Result<Grievance> {
        // Reviewers act on their own units only; the unit is known once the row is read.
        let unit_of = self.grievance_unit(campaign, grievance_id).await?;
        if allowed_units.is_some_and(|units| !units.contains(&unit_of)) {
            return Err(Error::PermissionDenied(format!(
                "the reviewer's token does not cover unit {unit_of}"
            )));
        }
        let resolved_at = (status == GrievanceStatus::Resolved).then_some(at.as_micros());
        let row = sqlx::query(
            "UPDATE grievances SET status = ?, updated_at = ?, \
             resolved_at = CASE WHEN ? IS NULL THEN NULL ELSE coalesce(resolved_at, ?) END \
             WHERE campaign_id = ? AND grievance_id = ? RETURNING *",
        )
        .bind(status.as_i16())
        .bind(at.as_micros())
        .bind(resolved_at)
        .bind(resolved_at)
        .bind(campaign.as_str())
        .bind(grievance_id)
        .fetch_optional(&mut self.writer().await.connection)
        .await?
        .ok_or_else(|| Error::not_found("grievance", grievance_id))?;
        grievance(&row)
    }

    pub async fn grievance_facts(
        &self,
        campaign: &CampaignId,
        units: &[UnitId],
    ) -> Result<Vec<(GrievanceStatus, Timestamp, Option<Timestamp>)>> {
        let rows = sqlx::query(
            "SELECT status, raised_at, resolved_at FROM grievances WHERE campaign_id = ? \
             AND unit_id IN (SELECT value FROM json_each(?))",
        )
        .bind(campaign.as_str())
        .bind(units_json(&Some(units.to_vec())))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    GrievanceStatus::from_i16(row.get("status"))
                        .ok_or_else(|| Error::internal("stored grievance status unknown"))?,
                    Timestamp::from_micros(row.get("raised_at")),
                    row.get::<Option<i64>, _>("resolved_at")
                        .map(Timestamp::from_micros),
                ))
            })
            .collect()
    }

    async fn grievance_unit(&self, campaign: &CampaignId, grievance_id: &str) -> Result<UnitId> {
        let row = sqlx::query(
            "SELECT unit_id FROM grievances WHERE campaign_id = ? AND grievance_id = ?",
        )
        .bind(campaign.as_str())
        .bind(grievance_id)
        .fetch_optional(&self.readers)
        .await?
        .ok_or_else(|| Error::not_found("grievance", grievance_id))?;
        parse_stored(row.get("unit_id"), UnitId::parse)
    }
}
