//! The PostgreSQL store: one pool shared by readers and the group-commit writer. A batch is
//! written with one statement per table, each binding one array per column (`UNNEST`), so the
//! SQL text and the number of round trips do not grow with the batch.

mod fieldwork;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::codec::{
    self, Deltas, Prepared, StoredContribution, StoredSubmission, carrier_column,
    carrier_from_column, cell_key, decode_answers, decode_indicators, decode_quality_rules,
    decode_weighting, encode_answers, encode_attributes, encode_indicators, encode_quality_rules,
    encode_weighting, outcomes, poll_case_updates, prepare,
};
use super::{CommitOutcome, StoreOptions, insert_error};
use crate::domain::campaign::Campaign;
use crate::domain::cells::CellRow;
use crate::domain::channel::Channel;
use crate::domain::flags::{decode_flags, encode_flags};
use crate::domain::geo::Area;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::review::ReviewState;
use crate::domain::submission::{NewSubmission, Source};
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind};
use crate::error::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Readers and the writer share one pool: PostgreSQL runs concurrent transactions itself.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// The channel on which server processes sharing a database announce changed campaigns.
const CHANGES_CHANNEL: &str = "canvass_changes";
/// How the change listener's connection is named in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "canvass-change-listener";

impl PgStore {
    /// Announces `payloads` to every process listening on [`Self::change_listener`]. Each is
    /// delivered as sent; an announcement made while nobody listens is simply dropped.
    pub async fn announce_changes(&self, payloads: &[String]) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS payload")
            .bind(CHANGES_CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A listener on a connection of its own (not taken from the pool, and named
    /// [`LISTENER_APPLICATION_NAME`] in `pg_stat_activity`), subscribed to the announcements of
    /// [`Self::announce_changes`]. It reconnects by itself after a network failure; what was
    /// announced meanwhile is not heard.
    pub async fn change_listener(&self) -> Result<PgListener> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(self.pool.options().get_acquire_timeout())
            .connect_with(
                (*self.pool.connect_options())
                    .clone()
                    .application_name(LISTENER_APPLICATION_NAME),
            )
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(listener)
    }

    /// Connections the pool opens at most.
    pub fn pool_size(&self) -> usize {
        self.pool.options().get_max_connections() as usize
    }

    pub async fn connect(options: &StoreOptions) -> Result<Self> {
        let connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| Error::internal(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // The per-acquire ping costs a round trip on every query (measured: 8.6k vs 10.3k
            // inserts/s); a dead connection surfaces as an I/O error, which maps to UNAVAILABLE.
            .test_before_acquire(false)
            .connect_with(connect)
            .await?;
        warn_if_commits_are_not_durable(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        self.count_top_three().await
    }

    /// Counts the top-three answers of aggregate rows written before those counts were kept,
    /// from their campaigns' counted submissions. The rows are locked first: a server process
    /// ingesting meanwhile adds to a row after its count, or its submissions are counted in it.
    async fn count_top_three(&self) -> Result<()> {
        let uncounted: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT campaign_id FROM cell_stats WHERE top_three IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        if uncounted.is_empty() {
            return Ok(());
        }
        let (campaigns, questionnaires) = (
            self.load_campaigns().await?,
            self.load_questionnaires().await?,
        );
        for id in uncounted {
            let (campaign, questionnaire) = codec::campaign_in(&campaigns, &questionnaires, &id)?;
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "SELECT 1 FROM cell_stats WHERE campaign_id = $1 AND top_three IS NULL FOR UPDATE",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            let mut count = codec::TopThreeCount::new(campaign, questionnaire);
            let mut stored = sqlx::query_as::<_, StoredContribution>(
                "SELECT unit_id, channel, carrier, answers::text AS answers, \
                 respondent_attributes::text AS respondent_attributes, review_state \
                 FROM submissions WHERE campaign_id = $1",
            )
            .bind(&id)
            .fetch(&mut *tx);
            while let Some(row) = stored.try_next().await? {
                count.add(&row)?;
            }
            drop(stored);
            let (mut units, mut channels, mut carriers, mut strata, mut counts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((_, unit, channel, carrier, stratum), top_three) in count.rows() {
                units.push(unit.to_string());
                channels.push(channel.as_i16());
                carriers.push(carrier);
                strata.push(stratum.as_str().to_owned());
                counts.push(array_literal(&top_three));
            }
            sqlx::query(
                "UPDATE cell_stats AS c SET top_three = r.t::int8[] FROM UNNEST($2::text[], \
                 $3::int2[], $4::int2[], $5::text[], $6::text[]) AS r(u, ch, ca, st, t) \
                 WHERE c.campaign_id = $1 AND c.unit_id = r.u AND c.channel = r.ch \
                 AND c.carrier = r.ca AND c.stratum = r.st AND c.top_three IS NULL",
            )
            .bind(&id)
            .bind(units)
            .bind(channels)
            .bind(carriers)
            .bind(strata)
            .bind(counts)
            .execute(&mut *tx)
            .await?;
            // Rows whose submissions were all rejected since.
            sqlx::query(
                "UPDATE cell_stats SET top_three = '{}' WHERE campaign_id = $1 \
                 AND top_three IS NULL",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn insert_unit(&self, unit: &Unit) -> Result<()> {
        sqlx::query(
            "INSERT INTO units (id, name, kind, parent_id, area_latitude, area_longitude, \
             area_radius_m, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(unit.id.as_str())
        .bind(&unit.name)
        .bind(unit.kind.as_i16())
        .bind(unit.parent_id.as_ref().map(UnitId::as_str))
        .bind(unit.area.map(|a| a.latitude))
        .bind(unit.area.map(|a| a.longitude))
        .bind(unit.area.map(|a| a.radius_meters))
        .bind(unit.created_at.to_offset_date_time())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error(e, "unit", unit.id.as_str()))?;
        Ok(())
    }

    pub async fn load_units(&self) -> Result<Vec<Unit>> {
        let rows = sqlx::query(
            "SELECT id, name, kind, parent_id, area_latitude, area_longitude, area_radius_m, \
             created_at FROM units",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(unit_from_row).collect()
    }

    pub async fn insert_questionnaire(&self, q: &Questionnaire) -> Result<()> {
        sqlx::query(
            "INSERT INTO questionnaires (id, name, definition, created_at) \
             VALUES ($1, $2, $3::jsonb, $4)",
        )
        .bind(q.id.as_str())
        .bind(&q.name)
        .bind(encode_indicators(&q.indicators))
        .bind(q.created_at.to_offset_date_time())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error(e, "questionnaire", q.id.as_str()))?;
        Ok(())
    }

    pub async fn load_questionnaires(&self) -> Result<Vec<Questionnaire>> {
        let rows = sqlx::query(
            "SELECT id, name, definition::text AS definition, created_at FROM questionnaires",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Questionnaire {
                    id: parse_stored(row.try_get("id")?, QuestionnaireId::parse)?,
                    name: row.try_get("name")?,
                    indicators: decode_indicators(row.try_get("definition")?)?,
                    created_at: timestamp(row, "created_at")?,
                })
            })
            .collect()
    }

    pub async fn insert_campaign(&self, c: &Campaign) -> Result<()> {
        sqlx::query(
            "INSERT INTO campaigns (id, name, questionnaire_id, scope_unit_id, opens_at, \
             closes_at, compared_campaign_id, min_sample, weighting, quality_rules, \
             eligibility_rate, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12)",
        )
        .bind(c.id.as_str())
        .bind(&c.name)
        .bind(c.questionnaire_id.as_str())
        .bind(c.scope_unit_id.as_str())
        .bind(c.opens_at.to_offset_date_time())
        .bind(c.closes_at.to_offset_date_time())
        .bind(c.compared_campaign_id.as_ref().map(CampaignId::as_str))
        .bind(i64::from(c.min_sample))
        .bind(encode_weighting(c.weighting.as_ref()))
        .bind(encode_quality_rules(&c.quality_rules))
        .bind(c.eligibility_rate)
        .bind(c.created_at.to_offset_date_time())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error(e, "campaign", c.id.as_str()))?;
        Ok(())
    }

    pub async fn load_campaigns(&self) -> Result<Vec<Campaign>> {
        let rows = sqlx::query(
            "SELECT id, name, questionnaire_id, scope_unit_id, opens_at, closes_at, \
             compared_campaign_id, min_sample, weighting::text AS weighting, \
             quality_rules::text AS quality_rules, eligibility_rate, created_at \
             FROM campaigns",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let compared: Option<&str> = row.try_get("compared_campaign_id")?;
                Ok(Campaign {
                    id: parse_stored(row.try_get("id")?, CampaignId::parse)?,
                    name: row.try_get("name")?,
                    questionnaire_id: parse_stored(
                        row.try_get("questionnaire_id")?,
                        QuestionnaireId::parse,
                    )?,
                    scope_unit_id: parse_stored(row.try_get("scope_unit_id")?, UnitId::parse)?,
                    opens_at: timestamp(row, "opens_at")?,
                    closes_at: timestamp(row, "closes_at")?,
                    compared_campaign_id: compared
                        .map(|id| parse_stored(id, CampaignId::parse))
                        .transpose()?,
                    min_sample: u32::try_from(row.try_get::<i64, _>("min_sample")?)
                        .map_err(|_| Error::internal("stored min_sample out of range"))?,
                    weighting: decode_weighting(row.try_get("weighting")?)?,
                    quality_rules: decode_quality_rules(row.try_get("quality_rules")?)?,
                    eligibility_rate: row.try_get("eligibility_rate")?,
                    created_at: timestamp(row, "created_at")?,
                })
            })
            .collect()
    }

    pub async fn commit_submissions(
        &self,
        batch: &[&NewSubmission],
        accepted_at: Timestamp,
    ) -> Result<Vec<CommitOutcome>> {
        let mut tx = self.pool.begin().await?;
        let households = fieldwork::claim_households(&mut tx, batch).await?;
        let prepared = prepare(batch, &households);
        let inserted = insert_submissions(&mut tx, &prepared, accepted_at).await?;
        let is_new = |s: &NewSubmission| inserted.contains(&(s.campaign_id.clone(), s.id));
        let existing = existing_submissions(&mut tx, batch.iter().filter(|s| !is_new(s))).await?;
        let new: Vec<&Prepared<'_>> = prepared.iter().filter(|p| is_new(p.submission)).collect();
        let counted = new
            .iter()
            .filter(|p| p.state.counts())
            .map(|p| p.submission);
        apply_deltas(&mut tx, &Deltas::of(counted)).await?;
        fieldwork::insert_grievances(&mut tx, new.iter().map(|p| p.submission), accepted_at)
            .await?;
        let updates = poll_case_updates(new.iter().map(|p| p.submission));
        fieldwork::apply_case_updates(&mut tx, &updates).await?;
        tx.commit().await?;

        Ok(outcomes(prepared, is_new, &existing, accepted_at))
    }

    pub async fn campaign_stats(&self, campaign: &CampaignId) -> Result<Vec<CellRow>> {
        let rows = sqlx::query(
            "SELECT unit_id, channel, carrier, stratum, submissions, moments, top_three \
             FROM cell_stats WHERE campaign_id = $1",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let flat: Vec<i64> = row.try_get("moments")?;
                let top_three: Option<Vec<i64>> = row.try_get("top_three")?;
                let figures = codec::figures_from_flat(
                    row.try_get("submissions")?,
                    &flat,
                    &codec::stored_top_three(top_three)?,
                )?;
                Ok(CellRow {
                    unit_id: parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
                    cell: cell_key(
                        row.try_get("channel")?,
                        row.try_get("carrier")?,
                        row.try_get("stratum")?,
                    )?,
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
            "SELECT submission_id, unit_id, channel, carrier, answers::text AS answers, \
             review_state FROM submissions WHERE campaign_id = $1 ORDER BY seq",
        )
        .bind(campaign.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredSubmission {
                    submission_id: row.try_get("submission_id")?,
                    unit_id: parse_stored(row.try_get("unit_id")?, UnitId::parse)?,
                    channel: channel_from_row(row)?,
                    carrier: carrier_from_column(row.try_get("carrier")?),
                    answers: decode_answers(row.try_get("answers")?)?,
                    review_state: ReviewState::from_i16(row.try_get("review_state")?)
                        .ok_or_else(|| Error::internal("stored review state unknown"))?,
                })
            })
            .collect()
    }

    pub async fn submission_exists(&self, campaign: &CampaignId, id: Uuid) -> Result<bool> {
        let found =
            sqlx::query("SELECT 1 FROM submissions WHERE campaign_id = $1 AND submission_id = $2")
                .bind(campaign.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }
}

/// Inserts the batch with one statement, one array per column; returns the (campaign, id) of
/// the rows that were new. Rows go in batch order, so `seq` follows arrival.
async fn insert_submissions(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[Prepared<'_>],
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
    let mut started: Vec<OffsetDateTime> = Vec::with_capacity(n);
    let mut ended: Vec<OffsetDateTime> = Vec::with_capacity(n);
    let mut answers = Vec::with_capacity(n);
    let mut attributes = Vec::with_capacity(n);
    let mut submitted_by = Vec::with_capacity(n);
    for p in batch {
        let s = p.submission;
        states.push(p.state.as_i16());
        flags.push(encode_flags(&p.flags));
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
        channels.push(s.source.channel().as_i16());
        carriers.push(carrier_column(s.source.carrier()));
        respondents.push(respondent);
        households.push(household);
        latitudes.push(location.map(|l| l.latitude));
        longitudes.push(location.map(|l| l.longitude));
        accuracies.push(location.map(|l| l.accuracy_meters));
        started.push(s.started_at.to_offset_date_time());
        ended.push(s.ended_at.to_offset_date_time());
        answers.push(encode_answers(s));
        attributes.push(encode_attributes(&s.attributes));
        submitted_by.push(s.submitted_by.as_str());
    }
    // The batch shares one acceptance instant, so it is a scalar rather than an array.
    let rows = sqlx::query(
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
    .bind(accepted_at.to_offset_date_time())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?,
                row.try_get("submission_id")?,
            ))
        })
        .collect()
}

/// Content hash and acceptance time of submissions already stored, in one query.
async fn existing_submissions<'a>(
    tx: &mut Transaction<'_, Postgres>,
    submissions: impl Iterator<Item = &'a &'a NewSubmission>,
) -> Result<HashMap<(CampaignId, Uuid), CommitOutcome>> {
    let (campaign_ids, ids): (Vec<&str>, Vec<Uuid>) =
        submissions.map(|s| (s.campaign_id.as_str(), s.id)).unzip();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT campaign_id, submission_id, content_hash, accepted_at, review_state, \
         quality_flags FROM submissions \
         WHERE (campaign_id, submission_id) IN (SELECT * FROM UNNEST($1::text[], $2::uuid[]))",
    )
    .bind(campaign_ids)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let hash: Vec<u8> = row.try_get("content_hash")?;
            let content_hash = hash
                .try_into()
                .map_err(|_| Error::internal("stored content hash is not 32 bytes"))?;
            Ok((
                (
                    parse_stored(row.try_get("campaign_id")?, CampaignId::parse)?,
                    row.try_get("submission_id")?,
                ),
                CommitOutcome::Existing {
                    content_hash,
                    accepted_at: timestamp(row, "accepted_at")?,
                    state: ReviewState::from_i16(row.try_get("review_state")?)
                        .ok_or_else(|| Error::internal("stored review state unknown"))?,
                    flags: decode_flags(row.try_get("quality_flags")?),
                },
            ))
        })
        .collect()
}

/// Adds a batch's summed deltas in one upsert; `add_moments` (see the migrations) sums the
/// moment arrays in the database, so concurrent writers never lose each other's counts. Rows
/// are sent in key order so that writers of several server processes lock shared rows in the
/// same order and cannot deadlock each other.
async fn apply_deltas(tx: &mut Transaction<'_, Postgres>, deltas: &Deltas) -> Result<()> {
    if deltas.cells.is_empty() {
        return Ok(());
    }
    let rows = deltas.sorted();
    let n = rows.len();
    let (mut campaigns, mut units, mut channels) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut carriers, mut strata, mut submissions, mut moments, mut top_three) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((campaign, unit, channel, carrier, stratum), figures) in rows {
        campaigns.push(campaign.as_str());
        units.push(unit.as_str());
        channels.push(channel.as_i16());
        carriers.push(*carrier);
        strata.push(stratum.as_str());
        submissions.push(figures.submissions);
        // An array literal per row: UNNEST would flatten a two-dimensional array.
        moments.push(array_literal(&codec::flat_moments(figures)));
        top_three.push(array_literal(&codec::flat_top_three(figures)));
    }
    sqlx::query(
        "INSERT INTO cell_stats (campaign_id, unit_id, channel, carrier, stratum, submissions, \
         moments, top_three) \
         SELECT c, u, ch, ca, st, n, m::int8[], t::int8[] FROM UNNEST($1::text[], $2::text[], \
         $3::int2[], $4::int2[], $5::text[], $6::int8[], $7::text[], $8::text[]) \
         AS r(c, u, ch, ca, st, n, m, t) \
         ON CONFLICT (campaign_id, unit_id, channel, carrier, stratum) DO UPDATE SET \
         submissions = cell_stats.submissions + EXCLUDED.submissions, \
         moments = add_moments(cell_stats.moments, EXCLUDED.moments), \
         top_three = add_moments(cell_stats.top_three, EXCLUDED.top_three)",
    )
    .bind(campaigns)
    .bind(units)
    .bind(channels)
    .bind(carriers)
    .bind(strata)
    .bind(submissions)
    .bind(moments)
    .bind(top_three)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `{1,2,3}`: PostgreSQL's text form of an integer array.
fn array_literal(numbers: &[i64]) -> String {
    let mut text = String::with_capacity(2 + numbers.len() * 4);
    text.push('{');
    for (i, n) in numbers.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&n.to_string());
    }
    text.push('}');
    text
}

/// An acknowledgement promises the submission is durable; with `synchronous_commit = off` a
/// crash can lose acknowledged commits. The server does not override the setting (a replicated
/// deployment may want something stronger), but says so loudly.
async fn warn_if_commits_are_not_durable(pool: &PgPool) -> Result<()> {
    let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(pool)
        .await?;
    if setting == "off" {
        tracing::warn!(
            "PostgreSQL synchronous_commit is off: acknowledged submissions may be lost in a crash"
        );
    }
    Ok(())
}

fn unit_from_row(row: &PgRow) -> Result<Unit> {
    let parent: Option<&str> = row.try_get("parent_id")?;
    let area = match (
        row.try_get::<Option<f64>, _>("area_latitude")?,
        row.try_get::<Option<f64>, _>("area_longitude")?,
        row.try_get::<Option<f64>, _>("area_radius_m")?,
    ) {
        (Some(latitude), Some(longitude), Some(radius_meters)) => Some(Area {
            latitude,
            longitude,
            radius_meters,
        }),
        _ => None,
    };
    Ok(Unit {
        id: parse_stored(row.try_get("id")?, UnitId::parse)?,
        name: row.try_get("name")?,
        kind: UnitKind::from_i16(row.try_get("kind")?)
            .ok_or_else(|| Error::internal("stored unit kind unknown"))?,
        parent_id: parent.map(|p| parse_stored(p, UnitId::parse)).transpose()?,
        area,
        created_at: timestamp(row, "created_at")?,
    })
}

fn channel_from_row(row: &PgRow) -> Result<Channel> {
    Channel::from_i16(row.try_get("channel")?)
        .ok_or_else(|| Error::internal("stored channel unknown"))
}

fn timestamp(row: &PgRow, column: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_offset_date_time(row.try_get(column)?))
}

/// Re-validates an id read back from the database; failure means corrupted data.
fn parse_stored<T>(value: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T> {
    parse(value).map_err(|e| Error::internal(format!("stored id {value:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_are_postgres_text_arrays() {
        assert_eq!(array_literal(&[]), "{}");
        assert_eq!(array_literal(&[1, -2, 300]), "{1,-2,300}");
    }
}
