//! Units, questionnaires and campaigns. Every statement reads the same in both dialects.

mod formats;
mod postgres;
mod sqlite;

use sqlx::types::Json;

use super::{Store, insert_error};
use crate::domain::campaign::Campaign;
use crate::domain::geo::Area;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::quality::QualityRules;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind};
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
        }
    }
}

pub async fn insert_unit(store: &Store, unit: &Unit) -> Result<()> {
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
    });
    Ok(())
}

/// Inserts `units` (parents before children) in one transaction: all or none.
pub async fn insert_units(store: &Store, units: &[Unit]) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    transaction!(store, |tx, dialect| {
        dialect::insert_units(&mut *tx, units)
            .await
            .map_err(|e| insert_error(e, "unit of the import", "(created meanwhile)"))?;
    });
    Ok(())
}

pub async fn load_units(store: &Store) -> Result<Vec<Unit>> {
    let rows: Vec<UnitRow> = read!(store, |db| {
        sqlx::query_as(
            "SELECT id, name, kind, parent_id, area_latitude, area_longitude, area_radius_m, \
             created_at FROM units",
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

pub async fn insert_questionnaire(store: &Store, q: &Questionnaire) -> Result<()> {
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

pub async fn insert_campaign(store: &Store, c: &Campaign) -> Result<()> {
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
    });
    Ok(())
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
