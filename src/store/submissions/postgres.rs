//! PostgreSQL's batch commit: one statement per table, each binding one array per column
//! (`UNNEST`), so the SQL text and the number of round trips do not grow with the batch. The
//! unique keys decide what is new (`ON CONFLICT DO NOTHING`), so several server processes may
//! commit side by side.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Admit, Admitted, CommitOutcome, ExistingRow, HouseholdKey, admitted, answers_json,
    attributes_json, household_key, outcomes,
};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::submission::{NewSubmission, Source};
use crate::domain::time::Timestamp;
use crate::error::Result;
use crate::store::aggregates::Deltas;
use crate::store::calls::poll_case_updates;
use crate::store::postgres::PgStore;
use crate::store::values::{CarrierColumn, Flags, code};
use crate::store::{aggregates, calls, grievances};

pub async fn commit(
    db: &PgStore,
    batch: &[&NewSubmission],
    accepted_at: Timestamp,
    admit: Admit<'_>,
) -> Result<(Vec<CommitOutcome>, Deltas)> {
    let mut tx = db.pool.begin().await?;
    let households = claim_households(&mut tx, batch).await?;
    let admitted = admitted(batch, admit(batch, &households));
    let inserted = insert_submissions(&mut tx, &admitted, accepted_at).await?;
    let is_new = |s: &NewSubmission| inserted.contains(&(s.campaign_id.clone(), s.id));
    let existing = existing_submissions(&mut tx, batch.iter().filter(|s| !is_new(s))).await?;
    let new: Vec<&Admitted<'_>> = admitted.iter().filter(|a| is_new(a.submission)).collect();
    let counted = new
        .iter()
        .filter(|a| a.admission.state.counts())
        .map(|a| a.submission);
    let deltas = Deltas::of(counted);
    aggregates::postgres::apply_deltas(&mut tx, &deltas).await?;
    grievances::postgres::insert(&mut tx, new.iter().map(|a| a.submission), accepted_at).await?;
    let updates = poll_case_updates(new.iter().map(|a| a.submission));
    calls::postgres::apply_case_updates(&mut tx, &updates).await?;
    tx.commit().await?;
    Ok((outcomes(admitted, is_new, &existing, accepted_at), deltas))
}

/// Claims the batch's households for its visits; returns those another visit holds already,
/// stored before or committed meanwhile by a batch beside this one (the claim waits for that
/// batch to finish). Claimed in key order, so two batches never wait on each other in a cycle.
async fn claim_households(
    conn: &mut PgConnection,
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
    let claimed: Vec<(CampaignId, UnitId, String)> = sqlx::query_as(
        "INSERT INTO households (campaign_id, unit_id, household_ref) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
         ON CONFLICT DO NOTHING RETURNING campaign_id, unit_id, household_ref",
    )
    .bind(campaigns)
    .bind(units)
    .bind(households)
    .fetch_all(&mut *conn)
    .await?;
    let mut held: HashSet<HouseholdKey> = keys.into_iter().collect();
    for key in &claimed {
        held.remove(key);
    }
    Ok(held)
}

/// Inserts the batch with one statement, one array per column; returns the (campaign, id) of
/// the rows that were new. Rows go in batch order, so `seq` follows arrival.
async fn insert_submissions(
    conn: &mut PgConnection,
    batch: &[Admitted<'_>],
    accepted_at: Timestamp,
) -> Result<HashSet<(CampaignId, Uuid)>> {
    let n = batch.len();
    let mut states = Vec::with_capacity(n);
    let mut flags = Vec::with_capacity(n);
    let mut campaign_ids = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut units = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut carriers = Vec::with_capacity(n);
    let mut respondents: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
    let mut households: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut latitudes: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut longitudes: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut accuracies: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut ended = Vec::with_capacity(n);
    let mut answers = Vec::with_capacity(n);
    let mut attributes = Vec::with_capacity(n);
    let mut submitted_by = Vec::with_capacity(n);
    for a in batch {
        let s = a.submission;
        states.push(code(a.admission.state));
        flags.push(Flags::encode(&a.admission.flags));
        let (respondent, household, location) = match &s.source {
            Source::Visit {
                household_ref,
                location,
            } => (None, Some(household_ref.as_str()), *location),
            Source::Phone { respondent, .. } => (Some(respondent.0.to_vec()), None, None),
        };
        campaign_ids.push(s.campaign_id.as_str());
        ids.push(s.id);
        hashes.push(s.content_hash().to_vec());
        units.push(s.unit_id.as_str());
        channels.push(code(s.source.channel()));
        carriers.push(CarrierColumn(s.source.carrier()).code());
        respondents.push(respondent);
        households.push(household);
        latitudes.push(location.map(|l| l.latitude));
        longitudes.push(location.map(|l| l.longitude));
        accuracies.push(location.map(|l| l.accuracy_meters));
        started.push(s.started_at);
        ended.push(s.ended_at);
        answers.push(answers_json(s));
        attributes.push(attributes_json(&s.attributes));
        submitted_by.push(s.submitted_by.as_str());
    }
    // The batch shares one acceptance instant, so it is a scalar rather than an array.
    let rows: Vec<(CampaignId, Uuid)> = sqlx::query_as(
        "INSERT INTO submissions (campaign_id, submission_id, content_hash, unit_id, channel, \
         carrier, respondent_hash, household_ref, latitude, longitude, accuracy_m, started_at, \
         ended_at, answers, respondent_attributes, submitted_by, review_state, quality_flags, \
         accepted_at) \
         SELECT *, $19::timestamptz FROM UNNEST($1::text[], $2::uuid[], $3::bytea[], $4::text[], \
         $5::int2[], $6::int2[], $7::bytea[], $8::text[], $9::float8[], $10::float8[], \
         $11::float8[], $12::timestamptz[], $13::timestamptz[], $14::text[]::jsonb[], \
         $15::text[]::jsonb[], $16::text[], $17::int2[], $18::text[]) \
         ON CONFLICT DO NOTHING \
         RETURNING campaign_id, submission_id",
    )
    .bind(campaign_ids)
    .bind(ids)
    .bind(hashes)
    .bind(units)
    .bind(channels)
    .bind(carriers)
    .bind(respondents)
    .bind(households)
    .bind(latitudes)
    .bind(longitudes)
    .bind(accuracies)
    .bind(started)
    .bind(ended)
    .bind(answers)
    .bind(attributes)
    .bind(submitted_by)
    .bind(states)
    .bind(flags)
    .bind(accepted_at)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Content hash, acceptance time and state of submissions already stored, in one query.
async fn existing_submissions<'a>(
    conn: &mut PgConnection,
    submissions: impl Iterator<Item = &'a &'a NewSubmission>,
) -> Result<HashMap<(CampaignId, Uuid), CommitOutcome>> {
    let (campaign_ids, ids): (Vec<&str>, Vec<Uuid>) =
        submissions.map(|s| (s.campaign_id.as_str(), s.id)).unzip();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ExistingRow> = sqlx::query_as(
        "SELECT campaign_id, submission_id, content_hash, accepted_at, review_state, \
         quality_flags FROM submissions \
         WHERE (campaign_id, submission_id) IN (SELECT * FROM UNNEST($1::text[], $2::uuid[]))",
    )
    .bind(campaign_ids)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(ExistingRow::into_outcome).collect()
}
