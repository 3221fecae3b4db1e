//! PostgreSQL: call cases, review, grievances and the household check of the ingest commit.
//! Batch paths bind one array per column (`UNNEST`), so round trips do not grow with a batch.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::super::codec::{
    CaseUpdate, HouseholdKey, StoredCase, carrier_from_column, fold_cases, household_key,
};
use super::super::{ListQuery, ReviewRequest};
use super::{PgStore, apply_deltas, channel_from_row, parse_stored, timestamp};
use crate::domain::aapor::{AttemptOutcome, Disposition, NewCallAttempt, Outcome};
use crate::domain::channel::Carrier;
use crate::domain::flags::{Flag, decode_flags};
use crate::domain::grievance::{Grievance, GrievanceStatus, Urgency, grievance_id};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::review::{Decision, ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

/// Claims the batch's households for its visits; returns those another visit holds already,
/// stored before or committed meanwhile by a batch beside this one (the claim waits for that
/// batch to finish). Claimed in key order, so two batches never wait on each other in a cycle.
pub(super) async fn claim_households(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[&NewSubmission],
) -> Result<HashSet<HouseholdKey>> {
    let mut keys: Vec<HouseholdKey> = batch.iter().filter_map(|s| household_key(s)).collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    keys.sort();
    keys.dedup();
    let campaigns: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let units: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let households: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let rows = sqlx::query(
        "INSERT INTO households (campaign_id, unit_id, household_ref) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
         ON CONFLICT DO NOTHING RETURNING campaign_id, unit_id, household_ref",
    )
    .bind(campaigns)
    .bind(units)
    .bind(households)
    .fetch_all(&mut **tx)
    .await?;
    let mut held: HashSet<HouseholdKey> = keys.into_iter().collect();
    for row in &rows {
        held.remove(&(
            parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?,
            parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
            row.try_get::<String, _>("household_ref")?,
        ));
    }
    Ok(held)
}

/// Stores the grievances of newly committed visits, all OPEN.
pub(super) async fn insert_grievances<'a>(
    tx: &mut Transaction<'_, Postgres>,
    submissions: impl Iterator<Item = &'a NewSubmission>,
    at: Timestamp,
) -> Result<()> {
    let (mut campaigns, mut ids, mut submission_ids, mut units) = (vec![], vec![], vec![], vec![]);
    let (mut categories, mut descriptions, mut urgencies) = (vec![], vec![], vec![]);
    for s in submissions {
        for (i, g) in s.grievances.iter().enumerate() {
            campaigns.push(s.campaign_id.as_str());
            ids.push(grievance_id(s.id, i));
            submission_ids.push(s.id);
            units.push(s.unit_id.as_str());
            categories.push(g.category.as_str());
            descriptions.push(g.description.as_str());
            urgencies.push(g.urgency.as_i16());
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let at = at.to_offset_date_time();
    sqlx::query(
        "INSERT INTO grievances (campaign_id, grievance_id, submission_id, unit_id, category, \
         description, urgency, status, raised_at, updated_at) \
         SELECT *, $8::int2, $9::timestamptz, $9::timestamptz FROM UNNEST($1::text[], \
         $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int2[])",
    )
    .bind(campaigns)
    .bind(ids)
    .bind(submission_ids)
    .bind(units)
    .bind(categories)
    .bind(descriptions)
    .bind(urgencies)
    .bind(GrievanceStatus::Open.as_i16())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The first key of Canvass's call-case advisory locks ("CASE"), apart from other users'.
const CASE_LOCK_CLASS: i32 = 0x4341_5345;
/// Advisory locks the call cases are spread over.
const CASE_LOCK_STRIPES: u32 = 256;

/// The advisory lock (second key) guarding one case.
fn case_lock_stripe(campaign: &CampaignId, respondent: &[u8; 32]) -> i32 {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(campaign.as_str().as_bytes());
    hash.update([0]);
    hash.update(respondent);
    let digest = hash.finalize();
    let stripe =
        u32::from_le_bytes(digest[..4].try_into().expect("32-byte digest")) % CASE_LOCK_STRIPES;
    i32::try_from(stripe).expect("fewer stripes than i32::MAX")
}

/// Folds call outcomes into their cases and the per-disposition counts; returns each update's
/// resulting case disposition. Rows are locked and written in key order, so concurrent
/// writers cannot deadlock on them.
pub(super) async fn apply_case_updates(
    tx: &mut Transaction<'_, Postgres>,
    updates: &[CaseUpdate],
) -> Result<Vec<Disposition>> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    // A case that does not exist yet has no row to lock: without this, two transactions that
    // both create it would both count it. Cases are spread over a fixed set of advisory locks,
    // taken in order (so transactions cannot wait on each other in a cycle) and held until
    // commit; a fixed set keeps a batch of a thousand polls from filling PostgreSQL's lock
    // table.
    let mut stripes: Vec<i32> = updates
        .iter()
        .map(|u| case_lock_stripe(&u.campaign_id, &u.respondent))
        .collect();
    stripes.sort_unstable();
    stripes.dedup();
    sqlx::query("SELECT pg_advisory_xact_lock($1, stripe) FROM UNNEST($2::int4[]) AS stripe")
        .bind(CASE_LOCK_CLASS)
        .bind(stripes)
        .fetch_all(&mut **tx)
        .await?;
    let campaigns: Vec<&str> = updates.iter().map(|u| u.campaign_id.as_str()).collect();
    let respondents: Vec<&[u8]> = updates.iter().map(|u| u.respondent.as_slice()).collect();
    let rows = sqlx::query(
        "SELECT campaign_id, respondent_hash, unit_id, carrier, disposition, decided_at \
         FROM call_cases WHERE (campaign_id, respondent_hash) IN \
         (SELECT * FROM UNNEST($1::text[], $2::bytea[])) \
         ORDER BY campaign_id, respondent_hash FOR UPDATE",
    )
    .bind(campaigns)
    .bind(respondents)
    .fetch_all(&mut **tx)
    .await?;
    let mut current = HashMap::new();
    for row in &rows {
        let respondent: Vec<u8> = row.try_get("respondent_hash")?;
        let respondent: [u8; 32] = respondent
            .try_into()
            .map_err(|_| Error::internal("stored respondent hash is not 32 bytes"))?;
        let campaign = parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?;
        current.insert((campaign, respondent), stored_case(row)?);
    }
    let changes = fold_cases(current, updates);

    let mut cases: Vec<_> = changes.cases.iter().collect();
    cases.sort_by(|a, b| a.0.cmp(b.0));
    if !cases.is_empty() {
        sqlx::query(
            "INSERT INTO call_cases (campaign_id, respondent_hash, unit_id, carrier, disposition, \
             decided_at) SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::text[], $4::int2[], \
             $5::int2[], $6::timestamptz[]) \
             ON CONFLICT (campaign_id, respondent_hash) DO UPDATE SET unit_id = EXCLUDED.unit_id, \
             carrier = EXCLUDED.carrier, disposition = EXCLUDED.disposition, \
             decided_at = EXCLUDED.decided_at",
        )
        .bind(
            cases
                .iter()
                .map(|((c, _), _)| c.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|((_, r), _)| r.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|(_, c)| c.unit_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(cases.iter().map(|(_, c)| c.carrier).collect::<Vec<_>>())
        .bind(
            cases
                .iter()
                .map(|(_, c)| c.outcome.disposition.as_i16())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|(_, c)| c.outcome.at.to_offset_date_time())
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await?;
    }
    let mut counts: Vec<_> = changes.counts.iter().collect();
    counts.sort_by(|a, b| a.0.cmp(b.0));
    if !counts.is_empty() {
        sqlx::query(
            "INSERT INTO disposition_counts (campaign_id, unit_id, carrier, disposition, cases) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int2[], $4::int2[], $5::int8[]) \
             ON CONFLICT (campaign_id, unit_id, carrier, disposition) \
             DO UPDATE SET cases = disposition_counts.cases + EXCLUDED.cases",
        )
        .bind(
            counts
                .iter()
                .map(|((c, _, _, _), _)| c.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            counts
                .iter()
                .map(|((_, u, _, _), _)| u.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            counts
                .iter()
                .map(|((_, _, carrier, _), _)| *carrier)
                .collect::<Vec<_>>(),
        )
        .bind(
            counts
                .iter()
                .map(|((_, _, _, d), _)| d.as_i16())
                .collect::<Vec<_>>(),
        )
        .bind(counts.iter().map(|(_, n)| **n).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(changes.finals)
}

fn stored_case(row: &PgRow) -> Result<StoredCase> {
    Ok(StoredCase {
        unit_id: parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
        carrier: row.try_get("carrier")?,
        outcome: Outcome {
            disposition: disposition(row.try_get("disposition")?)?,
            at: timestamp(row, "decided_at")?,
        },
    })
}

fn disposition(value: i16) -> Result<Disposition> {
    Disposition::from_i16(value).ok_or_else(|| Error::internal("stored disposition unknown"))
}

fn review_state(value: i16) -> Result<ReviewState> {
    ReviewState::from_i16(value).ok_or_else(|| Error::internal("stored review state unknown"))
}

fn unit_names(units: &Option<Vec<UnitId>>) -> Option<Vec<&str>> {
    units
        .as_ref()
        .map(|units| units.iter().map(UnitId::as_str).collect())
}

/// The columns `summary` reads (a macro so queries stay string literals).
macro_rules! summary_columns {
    () => {
        "seq, campaign_id, submission_id, unit_id, channel, review_state, quality_flags, \
         started_at, ended_at, accepted_at, submitted_by"
    };
}

fn summary(row: &PgRow) -> Result<SubmissionSummary> {
    Ok(SubmissionSummary {
        submission_id: row.try_get("submission_id")?,
        campaign_id: parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?,
        unit_id: parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
        channel: channel_from_row(row)?,
        state: review_state(row.try_get("review_state")?)?,
        flags: decode_flags(row.try_get("quality_flags")?),
        started_at: timestamp(row, "started_at")?,
        ended_at: timestamp(row, "ended_at")?,
        accepted_at: timestamp(row, "accepted_at")?,
        submitted_by: row.try_get("submitted_by")?,
    })
}

fn grievance(row: &PgRow) -> Result<Grievance> {
    Ok(Grievance {
        id: row.try_get("grievance_id")?,
        campaign_id: parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?,
        unit_id: parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
        submission_id: row.try_get("submission_id")?,
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        urgency: Urgency::from_i16(row.try_get("urgency")?)
            .ok_or_else(|| Error::internal("stored urgency unknown"))?,
        status: GrievanceStatus::from_i16(row.try_get("status")?)
            .ok_or_else(|| Error::internal("stored grievance status unknown"))?,
        raised_at: timestamp(row, "raised_at")?,
        resolved_at: row
            .try_get::<Option<time::OffsetDateTime>, _>("resolved_at")?
            .map(Timestamp::from_offset_date_time),
        updated_at: timestamp(row, "updated_at")?,
    })
}

impl PgStore {
    pub async fn commit_call_attempt(
        &self,
        attempt: &NewCallAttempt,
        accepted_at: Timestamp,
    ) -> Result<AttemptOutcome> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO call_attempts (campaign_id, attempt_id, content_hash, respondent_hash, \
             unit_id, carrier, disposition, attempted_at, submitted_by, accepted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(attempt.campaign_id.as_str())
        .bind(attempt.id)
        .bind(attempt.content_hash().to_vec())
        .bind(attempt.respondent.0.to_vec())
        .bind(attempt.unit_id.as_str())
        .bind(attempt.carrier.as_i16())
        .bind(attempt.disposition.as_i16())
        .bind(attempt.attempted_at.to_offset_date_time())
        .bind(&attempt.submitted_by)
        .bind(accepted_at.to_offset_date_time())
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
             WHERE a.campaign_id = $1 AND a.attempt_id = $2",
        )
        .bind(attempt.campaign_id.as_str())
        .bind(attempt.id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let hash: Vec<u8> = row.try_get("content_hash")?;
        Ok(AttemptOutcome::Existing {
            content_hash: hash
                .try_into()
                .map_err(|_| Error::internal("stored content hash is not 32 bytes"))?,
            accepted_at: timestamp(&row, "accepted_at")?,
            case: disposition(row.try_get("disposition")?)?,
        })
    }

    pub async fn disposition_counts(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<(UnitId, Option<Carrier>, Disposition, i64)>> {
        let rows = sqlx::query(
            "SELECT unit_id, carrier, disposition, cases FROM disposition_counts \
             WHERE campaign_id = $1 AND cases <> 0",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
                    carrier_from_column(row.try_get("carrier")?),
                    disposition(row.try_get("disposition")?)?,
                    row.try_get("cases")?,
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
        let rows = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            " FROM submissions WHERE campaign_id = $1 \
             AND review_state = $2 AND seq > $3 \
             AND ($4::text[] IS NULL OR unit_id = ANY($4)) \
             AND ($5::text IS NULL OR $5 = ANY(string_to_array(quality_flags, ','))) \
             ORDER BY seq LIMIT $6"
        ))
        .bind(query.campaign_id.as_str())
        .bind(state.as_i16())
        .bind(query.after)
        .bind(unit_names(&query.units))
        .bind(flag.map(Flag::name))
        .bind(query.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, summary(row)?)))
            .collect()
    }

    pub async fn review_submission(&self, review: &ReviewRequest<'_>) -> Result<SubmissionSummary> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            ", carrier, answers::text AS answers, \
             respondent_attributes::text AS respondent_attributes FROM submissions \
             WHERE campaign_id = $1 AND submission_id = $2 FOR UPDATE"
        ))
        .bind(review.campaign.id.as_str())
        .bind(review.submission_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::not_found("submission", review.submission_id.to_string()))?;
        let before = summary(&row)?;
        let to = review.transition(&before)?;
        sqlx::query(
            "UPDATE submissions SET review_state = $1 WHERE campaign_id = $2 AND submission_id = $3",
        )
        .bind(to.as_i16())
        .bind(review.campaign.id.as_str())
        .bind(review.submission_id)
        .execute(&mut *tx)
        .await?;
        let carrier = row.try_get("carrier")?;
        let answers = row.try_get("answers")?;
        let attributes = row.try_get("respondent_attributes")?;
        if let Some(deltas) = review.deltas(&before, to, carrier, answers, attributes)? {
            apply_deltas(&mut tx, &deltas).await?;
        }
        sqlx::query(
            "INSERT INTO review_actions (campaign_id, submission_id, reviewer, decision, \
             from_state, to_state, reason, acted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(review.campaign.id.as_str())
        .bind(review.submission_id)
        .bind(review.reviewer)
        .bind(review.decision.as_i16())
        .bind(before.state.as_i16())
        .bind(to.as_i16())
        .bind(review.reason)
        .bind(review.at.to_offset_date_time())
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
             reason, acted_at FROM review_actions WHERE campaign_id = $1 AND seq > $2 \
             AND ($3::uuid IS NULL OR submission_id = $3) ORDER BY seq LIMIT $4",
        )
        .bind(query.campaign_id.as_str())
        .bind(query.after)
        .bind(submission)
        .bind(query.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("seq")?,
                    ReviewAction {
                        campaign_id: parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?,
                        submission_id: row.try_get("submission_id")?,
                        reviewer: row.try_get("reviewer")?,
                        decision: Decision::from_i16(row.try_get("decision")?)
                            .ok_or_else(|| Error::internal("stored decision unknown"))?,
                        from: review_state(row.try_get("from_state")?)?,
                        to: review_state(row.try_get("to_state")?)?,
                        reason: row.try_get("reason")?,
                        at: timestamp(row, "acted_at")?,
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
        let rows = sqlx::query(
            "SELECT * FROM grievances WHERE campaign_id = $1 AND seq > $2 \
             AND ($3::text[] IS NULL OR unit_id = ANY($3)) \
             AND ($4::int2 IS NULL OR status = $4) ORDER BY seq LIMIT $5",
        )
        .bind(query.campaign_id.as_str())
        .bind(query.after)
        .bind(unit_names(&query.units))
        .bind(status.map(GrievanceStatus::as_i16))
        .bind(query.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, grievance(row)?)))
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
        let resolved = status == GrievanceStatus::Resolved;
        let row = sqlx::query(
            "UPDATE grievances SET status = $1, updated_at = $2, \
             resolved_at = CASE WHEN $3 THEN coalesce(resolved_at, $2) ELSE NULL END \
             WHERE campaign_id = $4 AND grievance_id = $5 RETURNING *",
        )
        .bind(status.as_i16())
        .bind(at.to_offset_date_time())
        .bind(resolved)
        .bind(campaign.as_str())
        .bind(grievance_id)
        .fetch_optional(&self.pool)
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
            "SELECT status, raised_at, resolved_at FROM grievances WHERE campaign_id = $1 \
             AND unit_id = ANY($2)",
        )
        .bind(campaign.as_str())
        .bind(units.iter().map(UnitId::as_str).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    GrievanceStatus::from_i16(row.try_get("status")?)
                        .ok_or_else(|| Error::internal("stored grievance status unknown"))?,
                    timestamp(row, "raised_at")?,
                    row.try_get::<Option<time::OffsetDateTime>, _>("resolved_at")?
                        .map(Timestamp::from_offset_date_time),
                ))
            })
            .collect()
    }

    async fn grievance_unit(&self, campaign: &CampaignId, grievance_id: &str) -> Result<UnitId> {
        let row = sqlx::query(
            "SELECT unit_id FROM grievances WHERE campaign_id = $1 AND grievance_id = $2",
        )
        .bind(campaign.as_str())
        .bind(grievance_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found("grievance", grievance_id))?;
        parse_stored(row.try_get("unit_id")?, UnitId::parse)
    }
}
