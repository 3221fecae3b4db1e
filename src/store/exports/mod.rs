//! Exports: submissions and call attempts read in keyset-paginated chunks (by `seq`, the
//! tables' stored order), so an export of any size holds one chunk at a time. Each export is
//! bounded by the last `seq` stored when it started.

pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;

use sqlx::types::Json;
use uuid::Uuid;

use super::Store;
use super::values::{CarrierColumn, Flags, code, hash32};
use crate::domain::aapor::Disposition;
use crate::domain::channel::{Carrier, Channel};
use crate::domain::export::{ExportFilter, StoredAttempt, StoredSubmission};
use crate::domain::geo::GeoLocation;
use crate::domain::ids::UnitId;
use crate::domain::review::ReviewState;
use crate::domain::time::Timestamp;
use crate::error::Result;

/// Where a chunked read stands: after `after`, up to and including `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub after: i64,
    pub last: i64,
}

#[derive(sqlx::FromRow)]
struct SubmissionRow {
    seq: i64,
    submission_id: Uuid,
    unit_id: UnitId,
    channel: Channel,
    carrier: CarrierColumn,
    respondent_hash: Option<Vec<u8>>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_m: Option<f64>,
    started_at: Timestamp,
    ended_at: Timestamp,
    accepted_at: Timestamp,
    answers: Json<BTreeMap<String, String>>,
    review_state: ReviewState,
    quality_flags: Flags,
    submitted_by: String,
}

impl SubmissionRow {
    fn into_stored(self) -> Result<StoredSubmission> {
        let location = match (self.latitude, self.longitude, self.accuracy_m) {
            (Some(latitude), Some(longitude), Some(accuracy_meters)) => Some(GeoLocation {
                latitude,
                longitude,
                accuracy_meters,
            }),
            _ => None,
        };
        Ok(StoredSubmission {
            seq: self.seq,
            submission_id: self.submission_id,
            unit_id: self.unit_id,
            channel: self.channel,
            carrier: self.carrier.0,
            respondent_hash: self
                .respondent_hash
                .map(|h| hash32(h, "respondent hash"))
                .transpose()?,
            location,
            started_at: self.started_at,
            ended_at: self.ended_at,
            accepted_at: self.accepted_at,
            answers: self.answers.0,
            state: self.review_state,
            flags: self.quality_flags.0,
            submitted_by: self.submitted_by,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    seq: i64,
    attempt_id: Uuid,
    unit_id: UnitId,
    carrier: Carrier,
    disposition: Disposition,
    attempted_at: Timestamp,
    accepted_at: Timestamp,
    submitted_by: String,
    respondent_hash: Vec<u8>,
}

/// The last `seq` of the campaign's submissions now (0 for none): an export stops there.
pub async fn last_submission(store: &Store, filter: &ExportFilter) -> Result<i64> {
    let last: Option<i64> = read!(store, |db, dialect| {
        sqlx::query_scalar(dialect::LAST_SUBMISSION)
            .bind(&filter.campaign_id)
            .fetch_one(db)
            .await?
    });
    Ok(last.unwrap_or(0))
}

/// The last `seq` of the campaign's call attempts now (0 for none).
pub async fn last_attempt(store: &Store, filter: &ExportFilter) -> Result<i64> {
    let last: Option<i64> = read!(store, |db, dialect| {
        sqlx::query_scalar(dialect::LAST_ATTEMPT)
            .bind(&filter.campaign_id)
            .fetch_one(db)
            .await?
    });
    Ok(last.unwrap_or(0))
}

/// The next at most `limit` submissions after the cursor that pass the filter, in `seq` order.
pub async fn submissions(
    store: &Store,
    filter: &ExportFilter,
    cursor: Cursor,
    limit: usize,
) -> Result<Vec<StoredSubmission>> {
    let states: Option<Vec<i16>> = filter
        .states
        .as_ref()
        .map(|s| s.iter().map(|s| code(*s)).collect());
    let rows: Vec<SubmissionRow> = read!(store, |db, dialect| {
        sqlx::query_as(dialect::SUBMISSIONS)
            .bind(&filter.campaign_id)
            .bind(cursor.after)
            .bind(cursor.last)
            .bind(dialect::units_filter(filter.units.as_deref()))
            .bind(dialect::codes_filter(states.as_deref()))
            .bind(filter.from)
            .bind(filter.until)
            .bind(limit as i64)
            .fetch_all(db)
            .await?
    });
    rows.into_iter().map(SubmissionRow::into_stored).collect()
}

/// The next at most `limit` call attempts after the cursor that pass the filter.
pub async fn attempts(
    store: &Store,
    filter: &ExportFilter,
    cursor: Cursor,
    limit: usize,
) -> Result<Vec<StoredAttempt>> {
    let rows: Vec<AttemptRow> = read!(store, |db, dialect| {
        sqlx::query_as(dialect::ATTEMPTS)
            .bind(&filter.campaign_id)
            .bind(cursor.after)
            .bind(cursor.last)
            .bind(dialect::units_filter(filter.units.as_deref()))
            .bind(filter.from)
            .bind(filter.until)
            .bind(limit as i64)
            .fetch_all(db)
            .await?
    });
    rows.into_iter()
        .map(|r| {
            Ok(StoredAttempt {
                seq: r.seq,
                attempt_id: r.attempt_id,
                unit_id: r.unit_id,
                carrier: r.carrier,
                disposition: r.disposition,
                attempted_at: r.attempted_at,
                accepted_at: r.accepted_at,
                submitted_by: r.submitted_by,
                respondent_hash: hash32(r.respondent_hash, "respondent hash")?,
            })
        })
        .collect()
}
