//! The embedded SQLite store: WAL with synchronous=FULL (an acknowledged commit survives a power
//! cut), one writer connection and a small pool of readers.

mod fieldwork;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use futures::TryStreamExt;
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, Sqlite, SqliteConnection, Transaction};
use uuid::Uuid;

use super::codec::{
    self, CellRowKey, Deltas, HouseholdKey, Prepared, StoredContribution, StoredSubmission,
    carrier_column, carrier_from_column, cell_key, cell_row_key, decode_answers, decode_indicators,
    decode_quality_rules, decode_weighting, encode_answers, encode_attributes, encode_indicators,
    encode_quality_rules, encode_weighting, new_submissions, outcomes, poll_case_updates, prepare,
};
use super::{CommitOutcome, StoreOptions, insert_error};
use crate::domain::campaign::Campaign;
use crate::domain::cells::{CellRow, Figures, Stratum};
use crate::domain::channel::Channel;
use crate::domain::flags::{decode_flags, encode_flags};
use crate::domain::geo::Area;
use crate::domain::grievance::{GrievanceStatus, grievance_id};
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::ReviewState;
use crate::domain::submission::{NewSubmission, Source};
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind};
use crate::error::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection, held rather than pooled: SQLite serialises writers anyway, one
    /// connection avoids SQLITE_BUSY between our own writers, and a pool hands it back through
    /// a spawned task after every transaction (under unary load a batch's BEGIN took 1.7 ms
    /// through the pool, 1.1 ms held).
    writer: Arc<Mutex<Writer>>,
    readers: SqlitePool,
}

/// The writer connection, and whether an ingest batch may have been left open on it (its
/// future dropped between BEGIN and COMMIT, or its ROLLBACK failed).
#[derive(Debug)]
struct Writer {
    connection: SqliteConnection,
    batch_open: bool,
}

impl SqliteStore {
    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(&options.url)
            .map_err(|e| Error::internal(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.acquire_timeout);
        if let Some(dir) = connect.get_filename().parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        // Checkpoint every ~12 MiB of WAL instead of SQLite's ~4 MiB: aggregate and index pages
        // that every batch rewrites reach the database once per checkpoint, not every few
        // batches. Measured under unary load: 1,000 pages ~8k/s; 3,000 ~8.4-8.9k/s, p99 47-54 ms
        // (under 50 in four runs of five); 10,000 ~9.1k/s but p99 52-57 ms (each checkpoint
        // stalls the writer longer).
        //
        // Statement journals stay in memory: a multi-row upsert inside a transaction keeps one
        // so it can undo itself, and SQLite's default spills it to a temporary file past
        // 64 KiB. Those writes took ~13% of the writer thread under unary load.
        let writer = SqliteConnection::connect_with(
            &connect
                .clone()
                .pragma("wal_autocheckpoint", "3000")
                .pragma("temp_store", "memory")
                // 16 MiB of page cache instead of 2: the aggregate rows and index leaves that
                // every batch touches stay cached. Paired unary runs: 12.9k and 13.7k/s against
                // 11.6k and 13.0k/s, for ~16 MiB more memory. (A memory-mapped file measured
                // faster still, but turns an I/O error into a crash and counts the whole
                // database file into the server's memory.)
                .pragma("cache_size", "-16384")
                // A batch's reads come back in one go (an aggregate row per unit it touches);
                // sqlx's default of 50 rows made SQLite's thread wait for the caller mid-query.
                .row_buffer_size(4096),
        )
        .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await?;
        Ok(Self {
            writer: Arc::new(Mutex::new(Writer {
                connection: writer,
                batch_open: false,
            })),
            readers,
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&mut self.writer().await.connection).await?;
        self.count_top_three().await
    }

    /// Counts the top-three answers of aggregate rows written before those counts were kept,
    /// from their campaigns' counted submissions. Runs before the server takes any write.
    async fn count_top_three(&self) -> Result<()> {
        let mut writer = self.writer().await;
        let mut tx = writer.connection.begin().await?;
        let uncounted: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT campaign_id FROM cell_stats WHERE top_three IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        if uncounted.is_empty() {
            return Ok(());
        }
        // Read-only connections: the catalog does not need the writer held here.
        let (campaigns, questionnaires) = (
            self.load_campaigns().await?,
            self.load_questionnaires().await?,
        );
        for id in uncounted {
            let (campaign, questionnaire) = codec::campaign_in(&campaigns, &questionnaires, &id)?;
            let mut count = codec::TopThreeCount::new(campaign, questionnaire);
            let mut stored = sqlx::query_as::<_, StoredContribution>(
                "SELECT unit_id, channel, carrier, answers, respondent_attributes, review_state \
                 FROM submissions WHERE campaign_id = ?",
            )
            .bind(&id)
            .fetch(&mut *tx);
            while let Some(row) = stored.try_next().await? {
                count.add(&row)?;
            }
            drop(stored);
            let counts: Vec<_> = count
                .rows()
                .into_iter()
                .map(|((_, unit, channel, carrier, stratum), counts)| {
                    (
                        unit.to_string(),
                        channel.as_i16(),
                        carrier,
                        stratum.as_str().to_owned(),
                        to_json(&counts),
                    )
                })
                .collect();
            sqlx::query(
                "UPDATE cell_stats SET top_three = r.value ->> 4 FROM jsonb_each(?) AS r \
                 WHERE campaign_id = ? AND unit_id = r.value ->> 0 AND channel = r.value ->> 1 \
                 AND carrier = r.value ->> 2 AND stratum = r.value ->> 3 AND top_three IS NULL",
            )
            .bind(to_json(&counts))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            // Rows whose submissions were all rejected since.
            sqlx::query(
                "UPDATE cell_stats SET top_three = '[]' WHERE campaign_id = ? \
                 AND top_three IS NULL",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The writer connection, once the previous write has finished with it.
    async fn writer(&self) -> MutexGuard<'_, Writer> {
        let mut writer = self.writer.lock().await;
        if writer.batch_open {
            // Fails harmlessly when SQLite had already rolled the batch back itself.
            let _ = sqlx::query("ROLLBACK")
                .execute(&mut writer.connection)
                .await;
            writer.batch_open = false;
        }
        writer
    }

    pub async fn insert_unit(&self, unit: &Unit) -> Result<()> {
        sqlx::query(
            "INSERT INTO units (id, name, kind, parent_id, area_latitude, area_longitude, \
             area_radius_m, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(unit.id.as_str())
        .bind(&unit.name)
        .bind(unit.kind.as_i16())
        .bind(unit.parent_id.as_ref().map(UnitId::as_str))
        .bind(unit.area.map(|a| a.latitude))
        .bind(unit.area.map(|a| a.longitude))
        .bind(unit.area.map(|a| a.radius_meters))
        .bind(unit.created_at.as_micros())
        .execute(&mut self.writer().await.connection)
        .await
        .map_err(|e| insert_error(e, "unit", unit.id.as_str()))?;
        Ok(())
    }

    pub async fn load_units(&self) -> Result<Vec<Unit>> {
        let rows = sqlx::query(
            "SELECT id, name, kind, parent_id, area_latitude, area_longitude, area_radius_m, \
             created_at FROM units",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(unit_from_row).collect()
    }

    pub async fn insert_questionnaire(&self, q: &Questionnaire) -> Result<()> {
        sqlx::query(
            "INSERT INTO questionnaires (id, name, definition, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(q.id.as_str())
        .bind(&q.name)
        .bind(encode_indicators(&q.indicators))
        .bind(q.created_at.as_micros())
        .execute(&mut self.writer().await.connection)
        .await
        .map_err(|e| insert_error(e, "questionnaire", q.id.as_str()))?;
        Ok(())
    }

    pub async fn load_questionnaires(&self) -> Result<Vec<Questionnaire>> {
        let rows = sqlx::query("SELECT id, name, definition, created_at FROM questionnaires")
            .fetch_all(&self.readers)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Questionnaire {
                    id: parse_stored(row.get("id"), QuestionnaireId::parse)?,
                    name: row.get("name"),
                    indicators: decode_indicators(row.get("definition"))?,
                    created_at: Timestamp::from_micros(row.get("created_at")),
                })
            })
            .collect()
    }

    pub async fn insert_campaign(&self, c: &Campaign) -> Result<()> {
        sqlx::query(
            "INSERT INTO campaigns (id, name, questionnaire_id, scope_unit_id, opens_at, \
             closes_at, compared_campaign_id, min_sample, weighting, quality_rules, \
             eligibility_rate, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.as_str())
        .bind(&c.name)
        .bind(c.questionnaire_id.as_str())
        .bind(c.scope_unit_id.as_str())
        .bind(c.opens_at.as_micros())
        .bind(c.closes_at.as_micros())
        .bind(c.compared_campaign_id.as_ref().map(CampaignId::as_str))
        .bind(i64::from(c.min_sample))
        .bind(encode_weighting(c.weighting.as_ref()))
        .bind(encode_quality_rules(&c.quality_rules))
        .bind(c.eligibility_rate)
        .bind(c.created_at.as_micros())
        .execute(&mut self.writer().await.connection)
        .await
        .map_err(|e| insert_error(e, "campaign", c.id.as_str()))?;
        Ok(())
    }

    pub async fn load_campaigns(&self) -> Result<Vec<Campaign>> {
        let rows = sqlx::query(
            "SELECT id, name, questionnaire_id, scope_unit_id, opens_at, closes_at, \
             compared_campaign_id, min_sample, weighting, quality_rules, eligibility_rate, \
             created_at FROM campaigns",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let compared: Option<String> = row.get("compared_campaign_id");
                Ok(Campaign {
                    id: parse_stored(row.get("id"), CampaignId::parse)?,
                    name: row.get("name"),
                    questionnaire_id: parse_stored(
                        row.get("questionnaire_id"),
                        QuestionnaireId::parse,
                    )?,
                    scope_unit_id: parse_stored(row.get("scope_unit_id"), UnitId::parse)?,
                    opens_at: Timestamp::from_micros(row.get("opens_at")),
                    closes_at: Timestamp::from_micros(row.get("closes_at")),
                    compared_campaign_id: compared
                        .as_deref()
                        .map(|id| parse_stored(id, CampaignId::parse))
                        .transpose()?,
                    min_sample: u32::try_from(row.get::<i64, _>("min_sample"))
                        .map_err(|_| Error::internal("stored min_sample out of range"))?,
                    weighting: decode_weighting(row.get("weighting"))?,
                    quality_rules: decode_quality_rules(row.get("quality_rules"))?,
                    eligibility_rate: row.get("eligibility_rate"),
                    created_at: Timestamp::from_micros(row.get("created_at")),
                })
            })
            .collect()
    }

    /// Commits an ingest batch in two round trips to SQLite's thread: BEGIN IMMEDIATE with every
    /// read the batch needs, then every write with COMMIT. Under load each round trip waits for
    /// that thread, and then for the waiting task, to be scheduled again; with seven round trips
    /// per batch, SQLite's thread sat idle over half of each batch.
    pub async fn commit_submissions(
        &self,
        batch: &[&NewSubmission],
        accepted_at: Timestamp,
    ) -> Result<Vec<CommitOutcome>> {
        let mut writer = self.writer().await;
        // Set before BEGIN: if this future is dropped midway, the next user rolls back.
        writer.batch_open = true;
        let committed = commit_batch(&mut writer.connection, batch, accepted_at).await;
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

    pub async fn campaign_stats(&self, campaign: &CampaignId) -> Result<Vec<CellRow>> {
        let rows = sqlx::query(
            "SELECT unit_id, channel, carrier, stratum, submissions, moments, top_three \
             FROM cell_stats WHERE campaign_id = ?",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let figures = codec::figures_from_json(
                    row.get("submissions"),
                    row.get("moments"),
                    codec::stored_top_three(row.get("top_three"))?,
                )?;
                Ok(CellRow {
                    unit_id: parse_stored(row.get("unit_id"), UnitId::parse)?,
                    cell: cell_key(row.get("channel"), row.get("carrier"), row.get("stratum"))?,
                    figures,
                })
            })
            .collect()
    }

    pub async fn campaign_submissions(
        &self,
        campaign: &CampaignId,
    ) -> Result<Vec<StoredSubmission>> {
        let rows = sqlx::query(
            "SELECT submission_id, unit_id, channel, carrier, answers, review_state FROM submissions \
             WHERE campaign_id = ? ORDER BY seq",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredSubmission {
                    submission_id: row.get("submission_id"),
                    unit_id: parse_stored(row.get("unit_id"), UnitId::parse)?,
                    channel: channel_from_row(row)?,
                    carrier: carrier_from_column(row.get("carrier")),
                    answers: decode_answers(row.get("answers"))?,
                    review_state: ReviewState::from_i16(row.get("review_state"))
                        .ok_or_else(|| Error::internal("stored review state unknown"))?,
                })
            })
            .collect()
    }

    pub async fn submission_exists(&self, campaign: &CampaignId, id: Uuid) -> Result<bool> {
        let found =
            sqlx::query("SELECT 1 FROM submissions WHERE campaign_id = ? AND submission_id = ?")
                .bind(campaign.as_str())
                .bind(id)
                .fetch_optional(&self.readers)
                .await?;
        Ok(found.is_some())
    }
}

/// A submission row as a JSON object: a whole batch is bound as one JSON array and inserted
/// with `jsonb_each`, so the SQL text is the same for every batch size. sqlx keeps one prepared
/// statement per distinct SQL text (~57 KiB each for multi-row VALUES), which had made the
/// server's memory grow with every new batch size. Blobs travel as hex.
///
/// `jsonb_each`, not `json_each`: the latter hands each element over as JSON text that `->>`
/// then parses again, which took ~15% of the writer thread; the binary form is read in place.
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
    fn of(p: &'a Prepared<'a>) -> Self {
        let s = p.submission;
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
            channel: s.source.channel().as_i16(),
            carrier: carrier_column(s.source.carrier()),
            respondent_hash: respondent,
            household_ref: household,
            latitude: location.map(|l| l.latitude),
            longitude: location.map(|l| l.longitude),
            accuracy_m: location.map(|l| l.accuracy_meters),
            started_at: s.started_at.as_micros(),
            ended_at: s.ended_at.as_micros(),
            answers: encode_answers(s),
            respondent_attributes: encode_attributes(&s.attributes),
            submitted_by: &s.submitted_by,
            review_state: p.state.as_i16(),
            quality_flags: encode_flags(&p.flags),
        }
    }
}

/// A grievance row, bound like submission rows.
#[derive(Serialize)]
struct GrievanceRow<'a> {
    campaign_id: &'a str,
    grievance_id: String,
    submission_id: String,
    unit_id: &'a str,
    category: &'a str,
    description: &'a str,
    urgency: i16,
}

/// Reads a cell_stats row for each [campaign, unit, channel, carrier, stratum] key of the bound
/// JSON array: a join driven by the keys, so each is one primary-key lookup.
macro_rules! select_cells_sql {
    () => {
        "SELECT 'cell' AS fact, c.campaign_id, c.unit_id, c.channel, c.carrier, c.stratum, \
         c.submissions, c.moments, c.top_three FROM jsonb_each(?) AS k CROSS JOIN cell_stats AS c \
         ON c.campaign_id = k.value ->> 0 AND c.unit_id = k.value ->> 1 \
         AND c.channel = k.value ->> 2 AND c.carrier = k.value ->> 3 \
         AND c.stratum = k.value ->> 4"
    };
}

/// Writes the bound JSON array of whole cell_stats rows (their new totals).
macro_rules! upsert_cells_sql {
    () => {
        // `WHERE true` lets SQLite tell the upsert's ON from a join's.
        "INSERT INTO cell_stats (campaign_id, unit_id, channel, carrier, stratum, submissions, \
         moments, top_three) \
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, \
         r.value ->> 5, r.value ->> 6, r.value ->> 7 FROM jsonb_each(?) AS r WHERE true \
         ON CONFLICT (campaign_id, unit_id, channel, carrier, stratum) DO UPDATE SET \
         submissions = excluded.submissions, moments = excluded.moments, \
         top_three = excluded.top_three"
    };
}

/// What the database holds that decides a batch: duplicate households, ids stored before,
/// respondents already interviewed, and the aggregate rows the batch may add to.
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
            match row.get::<&str, _>("fact") {
                "household" => {
                    facts.households.insert((
                        parse_stored(row.get("campaign_id"), CampaignId::parse)?,
                        parse_stored(row.get("unit_id"), UnitId::parse)?,
                        row.get("household_ref"),
                    ));
                }
                "existing" => {
                    let (key, outcome) = existing_outcome(row)?;
                    facts.existing.insert(key, outcome);
                }
                "interviewed" => {
                    let hash: Vec<u8> = row.get("respondent_hash");
                    facts.interviewed.insert((
                        parse_stored(row.get("campaign_id"), CampaignId::parse)?,
                        hash.try_into().map_err(|_| {
                            Error::internal("stored respondent hash is not 32 bytes")
                        })?,
                    ));
                }
                "cell" => {
                    let (key, figures) = stored_cell(row)?;
                    facts.cells.insert(key, figures);
                }
                other => return Err(Error::internal(format!("unknown batch fact {other:?}"))),
            }
        }
        Ok(facts)
    }
}

/// The batch's reads, the Rust side of its checks, then its writes with COMMIT in one round
/// trip. Phone polls add their call-case updates as statements of their own before that.
async fn commit_batch(
    conn: &mut SqliteConnection,
    batch: &[&NewSubmission],
    accepted_at: Timestamp,
) -> Result<Vec<CommitOutcome>> {
    let facts = BatchFacts::read(conn, batch).await?;
    let prepared = prepare(batch, &facts.households);
    let new_ids = new_submissions(batch, &facts.existing, &facts.interviewed);
    let is_new = |s: &NewSubmission| new_ids.contains(&(s.campaign_id.clone(), s.id));
    let new: Vec<&Prepared<'_>> = prepared.iter().filter(|p| is_new(p.submission)).collect();
    let deltas = Deltas::of(
        new.iter()
            .filter(|p| p.state.counts())
            .map(|p| p.submission),
    );
    let updates = poll_case_updates(new.iter().map(|p| p.submission));
    fieldwork::apply_case_updates(conn, &updates).await?;
    let submissions: Vec<SubmissionRow<'_>> = new.iter().map(|p| SubmissionRow::of(p)).collect();
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
        "INSERT INTO grievances (campaign_id, grievance_id, submission_id, unit_id, category, \
         description, urgency, status, raised_at, updated_at) \
         SELECT r.value ->> 'campaign_id', r.value ->> 'grievance_id', \
         unhex(r.value ->> 'submission_id'), r.value ->> 'unit_id', r.value ->> 'category', \
         r.value ->> 'description', r.value ->> 'urgency', ?, ?, ? FROM jsonb_each(?) AS r; ",
        upsert_cells_sql!(),
        "; COMMIT"
    ))
    // Plain `?` throughout: sqlx numbers them on across the statements.
    .bind(accepted_at.as_micros())
    .bind(to_json(&submissions))
    .bind(GrievanceStatus::Open.as_i16())
    .bind(accepted_at.as_micros())
    .bind(accepted_at.as_micros())
    .bind(to_json(&grievance_rows(&new)))
    .bind(cell_rows_json(facts.cells, &deltas))
    .execute(&mut *conn)
    .await?;
    Ok(outcomes(prepared, is_new, &facts.existing, accepted_at))
}

fn grievance_rows<'a>(new: &[&'a Prepared<'a>]) -> Vec<GrievanceRow<'a>> {
    new.iter()
        .flat_map(|p| {
            let s = p.submission;
            s.grievances.iter().enumerate().map(|(i, g)| GrievanceRow {
                campaign_id: s.campaign_id.as_str(),
                grievance_id: grievance_id(s.id, i),
                submission_id: hex::encode(s.id.as_bytes()),
                unit_id: s.unit_id.as_str(),
                category: &g.category,
                description: &g.description,
                urgency: g.urgency.as_i16(),
            })
        })
        .collect()
}

fn to_json<T: Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).expect("rows of strings and numbers always serialise")
}

/// Aggregate row keys as the JSON array `select_cells_sql!` binds.
fn cell_keys_json<'a>(keys: impl Iterator<Item = &'a CellRowKey>) -> String {
    to_json(
        &keys
            .map(|(campaign, unit, channel, carrier, stratum)| {
                (
                    campaign.as_str(),
                    unit.as_str(),
                    channel.as_i16(),
                    carrier,
                    stratum.as_str(),
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// The rows `deltas` touches with their new totals (stored figures plus deltas), as the JSON
/// array `upsert_cells_sql!` binds.
fn cell_rows_json(mut stored: HashMap<CellRowKey, Figures>, deltas: &Deltas) -> String {
    let rows: Vec<_> = deltas
        .cells
        .iter()
        .map(|(key, delta)| {
            let mut figures = stored.remove(key).unwrap_or_default();
            figures.add(delta);
            let (campaign, unit, channel, carrier, stratum) = key;
            (
                campaign.as_str(),
                unit.as_str(),
                channel.as_i16(),
                carrier,
                stratum.as_str(),
                figures.submissions,
                codec::moments_json(&figures),
                codec::top_three_json(&figures),
            )
        })
        .collect();
    to_json(&rows)
}

fn stored_cell(row: &SqliteRow) -> Result<(CellRowKey, Figures)> {
    let key = (
        parse_stored(row.get("campaign_id"), CampaignId::parse)?,
        parse_stored(row.get("unit_id"), UnitId::parse)?,
        channel_from_row(row)?,
        row.get("carrier"),
        Stratum::from_stored(row.get("stratum")),
    );
    Ok((
        key,
        codec::figures_from_json(
            row.get("submissions"),
            row.get("moments"),
            codec::stored_top_three(row.get("top_three"))?,
        )?,
    ))
}

/// A submission stored before, as a retry of it hears.
fn existing_outcome(row: &SqliteRow) -> Result<((CampaignId, Uuid), CommitOutcome)> {
    let hash: Vec<u8> = row.get("content_hash");
    let content_hash = hash
        .try_into()
        .map_err(|_| Error::internal("stored content hash is not 32 bytes"))?;
    Ok((
        (
            parse_stored(row.get("campaign_id"), CampaignId::parse)?,
            row.get("submission_id"),
        ),
        CommitOutcome::Existing {
            content_hash,
            accepted_at: Timestamp::from_micros(row.get("accepted_at")),
            state: ReviewState::from_i16(row.get("review_state"))
                .ok_or_else(|| Error::internal("stored review state unknown"))?,
            flags: decode_flags(row.get("quality_flags")),
        },
    ))
}

/// Adds summed deltas to the aggregate rows (a review moving submissions in or out). SQLite
/// cannot add arrays in SQL (a JSON merge there measured ~77 µs per row), so the touched rows
/// are read, summed here and written back. Every caller has already written in this
/// transaction, so it holds SQLite's write lock and no other writer can come between.
async fn apply_deltas(tx: &mut Transaction<'_, Sqlite>, deltas: &Deltas) -> Result<()> {
    if deltas.cells.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(select_cells_sql!())
        .bind(cell_keys_json(deltas.cells.keys()))
        .fetch_all(&mut **tx)
        .await?;
    let stored = rows.iter().map(stored_cell).collect::<Result<_>>()?;
    sqlx::query(upsert_cells_sql!())
        .bind(cell_rows_json(stored, deltas))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn unit_from_row(row: &SqliteRow) -> Result<Unit> {
    let parent: Option<String> = row.get("parent_id");
    let area = match (
        row.get::<Option<f64>, _>("area_latitude"),
        row.get::<Option<f64>, _>("area_longitude"),
        row.get::<Option<f64>, _>("area_radius_m"),
    ) {
        (Some(latitude), Some(longitude), Some(radius_meters)) => Some(Area {
            latitude,
            longitude,
            radius_meters,
        }),
        _ => None,
    };
    Ok(Unit {
        id: parse_stored(row.get("id"), UnitId::parse)?,
        name: row.get("name"),
        kind: UnitKind::from_i16(row.get("kind"))
            .ok_or_else(|| Error::internal("stored unit kind unknown"))?,
        parent_id: parent
            .as_deref()
            .map(|p| parse_stored(p, UnitId::parse))
            .transpose()?,
        area,
        created_at: Timestamp::from_micros(row.get("created_at")),
    })
}

fn channel_from_row(row: &SqliteRow) -> Result<Channel> {
    Channel::from_i16(row.get("channel")).ok_or_else(|| Error::internal("stored channel unknown"))
}

/// Re-validates an id read back from the database; failure means corrupted data.
fn parse_stored<T>(value: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T> {
    parse(value).map_err(|e| Error::internal(format!("stored id {value:?}: {e}")))
}
