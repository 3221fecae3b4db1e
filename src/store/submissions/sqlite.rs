//! SQLite's batch commit, in two round trips to SQLite's thread: BEGIN IMMEDIATE with every
//! read the batch needs, then every write with COMMIT. Under load each round trip waits for
//! that thread, and then for the waiting task, to be scheduled again; with seven round trips
//! per batch, SQLite's thread sat idle over half of each batch.
//!
//! Rows travel as one JSON array per statement, inserted with `jsonb_each`, so the SQL text is
//! the same for every batch size. sqlx keeps one prepared statement per distinct SQL text
//! (~57 KiB each for multi-row VALUES), which had made the server's memory grow with every new
//! batch size. `jsonb_each`, not `json_each`: the latter hands each element over as JSON text
//! that `->>` then parses again, which took ~15% of the writer thread; the binary form is read
//! in place. Blobs travel as hex.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::{FromRow, Row, SqliteConnection};
use uuid::Uuid;

use super::{
    Admit, Admitted, CommitOutcome, ExistingRow, HouseholdKey, admitted, answers_json,
    attributes_json, outcomes,
};
use crate::domain::cells::Figures;
use crate::domain::grievance::GrievanceStatus;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::submission::{NewSubmission, Source};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};
use crate::store::aggregates::sqlite::{
    cell_keys_json, cell_rows_json, select_cells_sql, to_json, upsert_cells_sql,
};
use crate::store::aggregates::{CellRowKey, Deltas, StoredCell, cell_row_key};
use crate::store::calls::{self, poll_case_updates};
use crate::store::grievances::sqlite::{grievance_rows, insert_grievances_sql};
use crate::store::sqlite::SqliteStore;
use crate::store::values::{CarrierColumn, Flags, code, hash32};

/// Commits the batch on the writer connection. If this future is dropped midway, the next
/// user of the connection rolls the batch back.
pub async fn commit(
    db: &SqliteStore,
    batch: &[&NewSubmission],
    accepted_at: Timestamp,
    admit: Admit<'_>,
) -> Result<(Vec<CommitOutcome>, Deltas)> {
    let mut writer = db.writer().await;
    writer.batch_open = true;
    let committed = commit_batch(&mut writer.connection, batch, accepted_at, admit).await;
    let closed = match committed {
        Ok(_) => true,
        // The failed statement stopped those after it, COMMIT included.
        Err(_) => sqlx::query("ROLLBACK")
            .execute(&mut writer.connection)
            .await
            .is_ok(),
    };
    writer.batch_open = !closed;
    committed
}

/// The batch's reads, the admission of its items, then its writes with COMMIT in one round
/// trip. Phone polls add their call-case updates as statements of their own before that.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &[&NewSubmission],
    accepted_at: Timestamp,
    admit: Admit<'_>,
) -> Result<(Vec<CommitOutcome>, Deltas)> {
    let facts = BatchFacts::read(conn, batch).await?;
    let admitted = admitted(batch, admit(batch, &facts.households));
    let new_ids = new_submissions(batch, &facts.existing, &facts.interviewed);
    let is_new = |s: &NewSubmission| new_ids.contains(&(s.campaign_id.clone(), s.id));
    let new: Vec<&Admitted<'_>> = admitted.iter().filter(|a| is_new(a.submission)).collect();
    let deltas = Deltas::of(
        new.iter()
            .filter(|a| a.admission.state.counts())
            .map(|a| a.submission),
    );
    let updates = poll_case_updates(new.iter().map(|a| a.submission));
    calls::sqlite::apply_case_updates(conn, &updates).await?;
    let submissions: Vec<SubmissionRow<'_>> = new.iter().map(|a| SubmissionRow::of(a)).collect();
    sqlx::query(concat!(
        // No conflict clause: the reads above decided what is new under the write lock, so a
        // conflict here is a fault and fails the batch.
        "INSERT INTO submissions (campaign_id, submission_id, content_hash, unit_id, channel, \
         carrier, respondent_hash, household_ref, latitude, longitude, accuracy_m, started_at, \
         ended_at, answers, respondent_attributes, submitted_by, accepted_at, review_state, \
         quality_flags) \
         SELECT r.value ->> 'campaign_id', unhex(r.value ->> 'submission_id'), \
         unhex(r.value ->> 'content_hash'), r.value ->> 'unit_id', r.value ->> 'channel', \
         r.value ->> 'carrier', unhex(r.value ->> 'respondent_hash'), \
         r.value ->> 'household_ref', r.value ->> 'latitude', r.value ->> 'longitude', \
         r.value ->> 'accuracy_m', r.value ->> 'started_at', r.value ->> 'ended_at', \
         r.value ->> 'answers', r.value ->> 'respondent_attributes', \
         r.value ->> 'submitted_by', ?, r.value ->> 'review_state', \
         r.value ->> 'quality_flags' FROM jsonb_each(?) AS r; ",
        insert_grievances_sql!(),
        upsert_cells_sql!(),
        "; COMMIT"
    ))
    // Plain `?` throughout: sqlx numbers them on across the statements.
    .bind(accepted_at)
    .bind(to_json(&submissions))
    .bind(GrievanceStatus::Open)
    .bind(accepted_at)
    .bind(accepted_at)
    .bind(to_json(&grievance_rows(&new)))
    .bind(cell_rows_json(facts.cells, &deltas))
    .execute(&mut *conn)
    .await?;
    Ok((
        outcomes(admitted, is_new, &facts.existing, accepted_at),
        deltas,
    ))
}

/// A submission row as a JSON object (see the module's notes).
#[derive(Serialize)]
struct SubmissionRow<'a> {
    campaign_id: &'a str,
    submission_id: String,
    content_hash: String,
    unit_id: &'a str,
    channel: i16,
    carrier: i16,
    respondent_hash: Option<String>,
    household_ref: Option<&'a str>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_m: Option<f64>,
    started_at: i64,
    ended_at: i64,
    answers: String,
    respondent_attributes: String,
    submitted_by: &'a str,
    review_state: i16,
    quality_flags: String,
}

impl<'a> SubmissionRow<'a> {
    fn of(a: &'a Admitted<'a>) -> Self {
        let s = a.submission;
        let (respondent, household, location) = match &s.source {
            Source::Visit {
                household_ref,
                location,
            } => (None, Some(household_ref.as_str()), *location),
            Source::Phone { respondent, .. } => (Some(hex::encode(respondent.0)), None, None),
        };
        Self {
            campaign_id: s.campaign_id.as_str(),
            submission_id: hex::encode(s.id.as_bytes()),
            content_hash: hex::encode(s.content_hash()),
            unit_id: s.unit_id.as_str(),
            channel: code(s.source.channel()),
            carrier: CarrierColumn(s.source.carrier()).code(),
            respondent_hash: respondent,
            household_ref: household,
            latitude: location.map(|l| l.latitude),
            longitude: location.map(|l| l.longitude),
            accuracy_m: location.map(|l| l.accuracy_meters),
            started_at: s.started_at.as_micros(),
            ended_at: s.ended_at.as_micros(),
            answers: answers_json(s),
            respondent_attributes: attributes_json(&s.attributes),
            submitted_by: &s.submitted_by,
            review_state: code(a.admission.state),
            quality_flags: Flags::encode(&a.admission.flags),
        }
    }
}

/// What the database holds that decides a batch: households visited before, ids stored
/// before, respondents already interviewed, and the aggregate rows the batch may add to.
#[derive(Default)]
struct BatchFacts {
    households: HashSet<HouseholdKey>,
    existing: HashMap<(CampaignId, Uuid), CommitOutcome>,
    interviewed: HashSet<(CampaignId, [u8; 32])>,
    cells: HashMap<CellRowKey, Figures>,
}

impl BatchFacts {
    /// Opens the batch's transaction, holding the write lock from these reads to the commit,
    /// and reads every fact in the same round trip. Rows are told apart by their `fact` column.
    async fn read(conn: &mut SqliteConnection, batch: &[&NewSubmission]) -> Result<Self> {
        let households: Vec<[&str; 3]> = batch
            .iter()
            .filter_map(|s| {
                let household = s.source.household_ref()?;
                Some([s.campaign_id.as_str(), s.unit_id.as_str(), household])
            })
            .collect();
        let ids: Vec<(&str, String)> = batch
            .iter()
            .map(|s| (s.campaign_id.as_str(), hex::encode(s.id.as_bytes())))
            .collect();
        let respondents: Vec<(&str, String)> = batch
            .iter()
            .filter_map(|s| {
                let respondent = s.source.respondent()?;
                Some((s.campaign_id.as_str(), hex::encode(respondent.0)))
            })
            .collect();
        let cells: HashSet<CellRowKey> = batch.iter().map(|s| cell_row_key(s)).collect();
        let rows = sqlx::query(concat!(
            "BEGIN IMMEDIATE; ",
            // Each key is one lookup in submissions_by_household (a row-value IN over a
            // subquery made SQLite scan the whole campaign).
            "SELECT DISTINCT 'household' AS fact, s.campaign_id, s.unit_id, s.household_ref \
             FROM jsonb_each(?) AS k CROSS JOIN submissions AS s \
             ON s.campaign_id = k.value ->> 0 AND s.unit_id = k.value ->> 1 \
             AND s.household_ref = k.value ->> 2; ",
            "SELECT 'existing' AS fact, s.campaign_id, s.submission_id, s.content_hash, \
             s.accepted_at, s.review_state, s.quality_flags \
             FROM jsonb_each(?) AS k CROSS JOIN submissions AS s \
             ON s.campaign_id = k.value ->> 0 AND s.submission_id = unhex(k.value ->> 1); ",
            "SELECT 'interviewed' AS fact, s.campaign_id, s.respondent_hash \
             FROM jsonb_each(?) AS k CROSS JOIN submissions AS s \
             ON s.campaign_id = k.value ->> 0 AND s.respondent_hash = unhex(k.value ->> 1); ",
            select_cells_sql!()
        ))
        .bind(to_json(&households))
        .bind(to_json(&ids))
        .bind(to_json(&respondents))
        .bind(cell_keys_json(cells.iter()))
        .fetch_all(&mut *conn)
        .await?;
        let mut facts = Self::default();
        for row in &rows {
            match row.try_get::<&str, _>("fact")? {
                "household" => {
                    facts.households.insert((
                        row.try_get::<CampaignId, _>("campaign_id")?,
                        row.try_get::<UnitId, _>("unit_id")?,
                        row.try_get("household_ref")?,
                    ));
                }
                "existing" => {
                    let (key, outcome) = ExistingRow::from_row(row)?.into_outcome()?;
                    facts.existing.insert(key, outcome);
                }
                "interviewed" => {
                    facts.interviewed.insert((
                        row.try_get("campaign_id")?,
                        hash32(row.try_get("respondent_hash")?, "respondent hash")?,
                    ));
                }
                "cell" => {
                    let (key, figures) = StoredCell::from_row(row)?.into_parts()?;
                    facts.cells.insert(key, figures);
                }
                other => return Err(Error::internal(format!("unknown batch fact {other:?}"))),
            }
        }
        Ok(facts)
    }
}

/// The ids of a batch that the lone writer inserts, knowing what the database holds: the
/// outcome its unique keys on (campaign, id) and (campaign, respondent) would give a
/// row-by-row insert. Ids it does not hold, except a second interview of a respondent (stored
/// before, or earlier in the batch, which wins). Only valid while the writer holds the
/// database's write lock from these reads to its insert.
fn new_submissions(
    batch: &[&NewSubmission],
    existing: &HashMap<(CampaignId, Uuid), CommitOutcome>,
    interviewed: &HashSet<(CampaignId, [u8; 32])>,
) -> HashSet<(CampaignId, Uuid)> {
    let mut taken: HashSet<(&CampaignId, [u8; 32])> = HashSet::new();
    batch
        .iter()
        .filter(|s| !existing.contains_key(&(s.campaign_id.clone(), s.id)))
        .filter(|s| match s.source.respondent() {
            Some(respondent) => {
                !interviewed.contains(&(s.campaign_id.clone(), respondent.0))
                    && taken.insert((&s.campaign_id, respondent.0))
            }
            None => true,
        })
        .map(|s| (s.campaign_id.clone(), s.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::channel::Carrier;
    use crate::domain::phone::RespondentHash;
    use crate::domain::review::ReviewState;

    fn poll(id: u128, respondent: u8) -> NewSubmission {
        let source = Source::Phone {
            respondent: RespondentHash([respondent; 32]),
            carrier: Carrier::ChinaMobile,
        };
        NewSubmission::for_tests(id, source)
    }

    #[test]
    fn new_submissions_leave_out_stored_ids_and_second_interviews() {
        let campaign = CampaignId::parse("c1").unwrap();
        let polls = [poll(1, 1), poll(2, 2), poll(3, 3), poll(4, 3), poll(5, 4)];
        let batch: Vec<&NewSubmission> = polls.iter().collect();
        let stored = CommitOutcome::Inserted {
            accepted_at: Timestamp::from_micros(9),
            state: ReviewState::Received,
            flags: Vec::new(),
        };
        // Id 1 is a retry; respondent 4 was interviewed under another id before.
        let existing = HashMap::from([((campaign.clone(), Uuid::from_u128(1)), stored)]);
        let interviewed = HashSet::from([(campaign.clone(), [4; 32])]);
        let new = new_submissions(&batch, &existing, &interviewed);
        // Respondent 3 twice in the batch: the first in batch order is the interview.
        let expected: HashSet<_> = [2, 3]
            .map(|id| (campaign.clone(), Uuid::from_u128(id)))
            .into();
        assert_eq!(new, expected);
    }
}
