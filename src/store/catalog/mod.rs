//! Units, questionnaires and campaigns. Every statement but the campaign lock reads the same
//! in both dialects.

mod formats;
mod postgres;
mod sqlite;

use sqlx::types::Json;

use super::{Store, audit, insert_error};
use crate::domain::audit::AuditEntry;
use crate::domain::campaign::Campaign;
use crate::domain::geo::Area;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::lifecycle::CampaignActivity;
use crate::domain::quality::QualityRules;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind, UnitMove};
use crate::error::{Error, Result};
use formats::{IndicatorJson, QualityRulesJson, WeightingJson};

#[derive(sqlx::FromRow)]
struct UnitRow {
    id: UnitId,
    name: String,
    kind: UnitKind,
    parent_id: Option<UnitId>,
    area_latitude: Option<f64>,
    area_longitude: Option<f64>,
    area_radius_m: Option<f64>,
    created_at: Timestamp,
    archived_at: Option<Timestamp>,
}

impl From<UnitRow> for Unit {
    fn from(row: UnitRow) -> Self {
        let area = match (row.area_latitude, row.area_longitude, row.area_radius_m) {
            (Some(latitude), Some(longitude), Some(radius_meters)) => Some(Area {
                latitude,
                longitude,
                radius_meters,
            }),
            _ => None,
        };
        Self {
            id: row.id,
            name: row.name,
            kind: row.kind,
            parent_id: row.parent_id,
            area,
            created_at: row.created_at,
            archived_at: row.archived_at,
        }
    }
}

pub async fn insert_unit(store: &Store, unit: &Unit, entry: &AuditEntry) -> Result<()> {
    transaction!(store, |tx| {
        sqlx::query(
            "INSERT INTO units (id, name, kind, parent_id, area_latitude, area_longitude, \
             area_radius_m, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&unit.id)
        .bind(&unit.name)
        .bind(unit.kind)
        .bind(&unit.parent_id)
        .bind(unit.area.map(|a| a.latitude))
        .bind(unit.area.map(|a| a.longitude))
        .bind(unit.area.map(|a| a.radius_meters))
        .bind(unit.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| insert_error(e, "unit", unit.id.as_str()))?;
        audit::record(&mut *tx, entry).await?;
    });
    Ok(())
}

/// Writes `unit`'s name, parent, area and archive time, the move when its parent changed, and
/// the audit entry, in one transaction.
pub async fn update_unit(
    store: &Store,
    unit: &Unit,
    moved: Option<&UnitMove>,
    entry: &AuditEntry,
) -> Result<()> {
    transaction!(store, |tx| {
        let updated = sqlx::query(
            "UPDATE units SET name = $1, parent_id = $2, area_latitude = $3, \
             area_longitude = $4, area_radius_m = $5, archived_at = $6 WHERE id = $7",
        )
        .bind(&unit.name)
        .bind(&unit.parent_id)
        .bind(unit.area.map(|a| a.latitude))
        .bind(unit.area.map(|a| a.longitude))
        .bind(unit.area.map(|a| a.radius_meters))
        .bind(unit.archived_at)
        .bind(&unit.id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::not_found("unit", unit.id.as_str()));
        }
        if let Some(m) = moved {
            sqlx::query(
                "INSERT INTO unit_moves (unit_id, from_parent_id, to_parent_id, moved_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&m.unit_id)
            .bind(&m.from)
            .bind(&m.to)
            .bind(m.at)
            .execute(&mut *tx)
            .await?;
        }
        audit::record(&mut *tx, entry).await?;
    });
    Ok(())
}

/// Inserts `units` (parents before children) and the import's audit entry in one
/// transaction: all or none.
pub async fn insert_units(store: &Store, units: &[Unit], entry: &AuditEntry) -> Result<()> {
    transaction!(store, |tx, dialect| {
        dialect::insert_units(&mut *tx, units)
            .await
            .map_err(|e| insert_error(e, "unit of the import", "(created meanwhile)"))?;
        audit::record(&mut *tx, entry).await?;
    });
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MoveRow {
    unit_id: UnitId,
    from_parent_id: Option<UnitId>,
    to_parent_id: Option<UnitId>,
    moved_at: Timestamp,
}

/// Every move, in the order made.
pub async fn load_moves(store: &Store) -> Result<Vec<UnitMove>> {
    let rows: Vec<MoveRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT unit_id, from_parent_id, to_parent_id, moved_at FROM unit_moves ORDER BY seq",
        )
        .fetch_all(db)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| UnitMove {
            unit_id: r.unit_id,
            from: r.from_parent_id,
            to: r.to_parent_id,
            at: r.moved_at,
        })
        .collect())
}

pub async fn load_units(store: &Store) -> Result<Vec<Unit>> {
    let rows: Vec<UnitRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT id, name, kind, parent_id, area_latitude, area_longitude, area_radius_m, \
             created_at, archived_at FROM units",
        )
        .fetch_all(db)
        .await?
    });
    Ok(rows.into_iter().map(Unit::from).collect())
}

#[derive(sqlx::FromRow)]
struct QuestionnaireRow {
    id: QuestionnaireId,
    name: String,
    definition: Json<Vec<IndicatorJson>>,
    created_at: Timestamp,
}

pub async fn insert_questionnaire(
    store: &Store,
    q: &Questionnaire,
    entry: &AuditEntry,
) -> Result<()> {
    transaction!(store, |tx| {
        sqlx::query(
            "INSERT INTO questionnaires (id, name, definition, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&q.id)
        .bind(&q.name)
        .bind(Json(formats::indicators_json(&q.indicators)))
        .bind(q.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| insert_error(e, "questionnaire", q.id.as_str()))?;
        audit::record(&mut *tx, entry).await?;
    });
    Ok(())
}

pub async fn load_questionnaires(store: &Store) -> Result<Vec<Questionnaire>> {
    let rows: Vec<QuestionnaireRow> = read!(store, |db| {
        sqlx::query_as("SELECT id, name, definition, created_at FROM questionnaires")
            .fetch_all(db)
            .await?
    });
    rows.into_iter()
        .map(|row| {
            Ok(Questionnaire {
                id: row.id,
                name: row.name,
                indicators: formats::indicators(row.definition.0)?,
                created_at: row.created_at,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct CampaignRow {
    id: CampaignId,
    name: String,
    questionnaire_id: QuestionnaireId,
    scope_unit_id: UnitId,
    opens_at: Timestamp,
    closes_at: Timestamp,
    compared_campaign_id: Option<CampaignId>,
    min_sample: i64,
    weighting: Option<Json<WeightingJson>>,
    quality_rules: Option<Json<QualityRulesJson>>,
    eligibility_rate: Option<f64>,
    created_at: Timestamp,
}

pub async fn insert_campaign(store: &Store, c: &Campaign, entry: &AuditEntry) -> Result<()> {
    transaction!(store, |tx| {
        sqlx::query(
            "INSERT INTO campaigns (id, name, questionnaire_id, scope_unit_id, opens_at, \
             closes_at, compared_campaign_id, min_sample, weighting, quality_rules, \
             eligibility_rate, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.questionnaire_id)
        .bind(&c.scope_unit_id)
        .bind(c.opens_at)
        .bind(c.closes_at)
        .bind(&c.compared_campaign_id)
        .bind(i64::from(c.min_sample))
        .bind(
            c.weighting
                .as_ref()
                .map(|w| Json(formats::weighting_json(w))),
        )
        .bind(Json(QualityRulesJson::from(&c.quality_rules)))
        .bind(c.eligibility_rate)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| insert_error(e, "campaign", c.id.as_str()))?;
        audit::record(&mut *tx, entry).await?;
    });
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    records: i64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// Reads what the campaign holds under the write lock, lets `decide` make the updated campaign
/// and its audit entry of that, and writes both in the same transaction. On PostgreSQL the
/// campaign's row is locked first, so two updates of one campaign take turns.
///
/// # Errors
/// NOT_FOUND for an unknown campaign; whatever `decide` refuses with.
pub async fn update_campaign(
    store: &Store,
    id: &CampaignId,
    decide: impl FnOnce(&CampaignActivity) -> Result<(Campaign, Option<AuditEntry>)> + Send,
) -> Result<Campaign> {
    let done = transaction!(store, |tx, dialect| {
        let found: Option<(CampaignId,)> = sqlx::query_as(dialect::LOCK_CAMPAIGN)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(Error::not_found("campaign", id.as_str()));
        }
        let row: ActivityRow = sqlx::query_as(
            "SELECT count(*) AS records, min(at) AS first, max(at) AS last FROM ( \
             SELECT ended_at AS at FROM submissions WHERE campaign_id = $1 \
             UNION ALL SELECT attempted_at AS at FROM call_attempts WHERE campaign_id = $1) AS a",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let (c, entry) = decide(&CampaignActivity {
            records: row.records,
            first: row.first,
            last: row.last,
        })?;
        sqlx::query(
            "UPDATE campaigns SET name = $1, questionnaire_id = $2, scope_unit_id = $3, \
             opens_at = $4, closes_at = $5, compared_campaign_id = $6, min_sample = $7, \
             weighting = $8, quality_rules = $9, eligibility_rate = $10 WHERE id = $11",
        )
        .bind(&c.name)
        .bind(&c.questionnaire_id)
        .bind(&c.scope_unit_id)
        .bind(c.opens_at)
        .bind(c.closes_at)
        .bind(&c.compared_campaign_id)
        .bind(i64::from(c.min_sample))
        .bind(
            c.weighting
                .as_ref()
                .map(|w| Json(formats::weighting_json(w))),
        )
        .bind(Json(QualityRulesJson::from(&c.quality_rules)))
        .bind(c.eligibility_rate)
        .bind(&c.id)
        .execute(&mut *tx)
        .await?;
        if let Some(entry) = &entry {
            audit::record(&mut *tx, entry).await?;
        }
        c
    });
    Ok(done)
}

pub async fn load_campaigns(store: &Store) -> Result<Vec<Campaign>> {
    let rows: Vec<CampaignRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT id, name, questionnaire_id, scope_unit_id, opens_at, closes_at, \
             compared_campaign_id, min_sample, weighting, quality_rules, eligibility_rate, \
             created_at FROM campaigns",
        )
        .fetch_all(db)
        .await?
    });
    rows.into_iter()
        .map(|row| {
            Ok(Campaign {
                id: row.id,
                name: row.name,
                questionnaire_id: row.questionnaire_id,
                scope_unit_id: row.scope_unit_id,
                opens_at: row.opens_at,
                closes_at: row.closes_at,
                compared_campaign_id: row.compared_campaign_id,
                min_sample: u32::try_from(row.min_sample)
                    .map_err(|_| Error::internal("stored min_sample out of range"))?,
                weighting: row.weighting.map(|w| formats::weighting(w.0)).transpose()?,
                quality_rules: row
                    .quality_rules
                    .map_or_else(QualityRules::default, |r| r.0.into()),
                eligibility_rate: row.eligibility_rate,
                created_at: row.created_at,
            })
        })
        .collect()
}
