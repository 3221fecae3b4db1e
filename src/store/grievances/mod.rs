//! Grievances households raise during visits, stored with the visit that raised them and
//! followed up by reviewers. The core decides status changes; this module stores them.

/// The columns [`GrievanceRow`] reads.
macro_rules! grievance_columns {
    () => {
        "campaign_id, grievance_id, submission_id, unit_id, category, description, urgency, \
         status, raised_at, resolved_at, updated_at"
    };
}

pub mod postgres;
pub mod sqlite;

use uuid::Uuid;

use super::{ListQuery, Store, audit};
use crate::domain::audit::AuditEntry;
use crate::domain::grievance::{Grievance, GrievanceStatus, Urgency};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct GrievanceRow {
    grievance_id: String,
    campaign_id: CampaignId,
    unit_id: UnitId,
    submission_id: Uuid,
    category: String,
    description: String,
    urgency: Urgency,
    status: GrievanceStatus,
    raised_at: Timestamp,
    resolved_at: Option<Timestamp>,
    updated_at: Timestamp,
}

impl From<GrievanceRow> for Grievance {
    fn from(row: GrievanceRow) -> Self {
        Self {
            id: row.grievance_id,
            campaign_id: row.campaign_id,
            unit_id: row.unit_id,
            submission_id: row.submission_id,
            category: row.category,
            description: row.description,
            urgency: row.urgency,
            status: row.status,
            raised_at: row.raised_at,
            resolved_at: row.resolved_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    seq: i64,
    #[sqlx(flatten)]
    grievance: GrievanceRow,
}

pub async fn list(
    store: &Store,
    query: &ListQuery,
    status: Option<GrievanceStatus>,
) -> Result<Vec<(i64, Grievance)>> {
    let rows: Vec<ListedRow> = read!(store, |db, dialect| {
        sqlx::query_as(dialect::LIST)
            .bind(&query.campaign_id)
            .bind(query.after)
            .bind(dialect::units_filter(query.units.as_deref()))
            .bind(status)
            .bind(query.limit as i64)
            .fetch_all(db)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| (r.seq, r.grievance.into()))
        .collect())
}

/// Loads the grievance under the write lock and stores what `update` makes of it.
pub async fn update(
    store: &Store,
    campaign: &CampaignId,
    grievance_id: &str,
    update: impl FnOnce(Grievance) -> Result<(Grievance, AuditEntry)> + Send,
) -> Result<Grievance> {
    let done = transaction!(store, |tx, dialect| {
        let row: GrievanceRow = sqlx::query_as(dialect::SELECT_FOR_UPDATE)
            .bind(campaign)
            .bind(grievance_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found("grievance", grievance_id))?;
        let (updated, entry) = update(row.into())?;
        sqlx::query(
            "UPDATE grievances SET status = $1, updated_at = $2, resolved_at = $3 \
             WHERE campaign_id = $4 AND grievance_id = $5",
        )
        .bind(updated.status)
        .bind(updated.updated_at)
        .bind(updated.resolved_at)
        .bind(campaign)
        .bind(grievance_id)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut *tx, &entry).await?;
        updated
    });
    Ok(done)
}

#[derive(sqlx::FromRow)]
struct FactRow {
    status: GrievanceStatus,
    raised_at: Timestamp,
    resolved_at: Option<Timestamp>,
}

/// Status, raise and resolve times of the grievances of `units`.
pub async fn facts(
    store: &Store,
    campaign: &CampaignId,
    units: &[UnitId],
) -> Result<Vec<(GrievanceStatus, Timestamp, Option<Timestamp>)>> {
    let rows: Vec<FactRow> = read!(store, |db, dialect| {
        sqlx::query_as(dialect::FACTS)
            .bind(campaign)
            .bind(dialect::units_filter(Some(units)))
            .fetch_all(db)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| (r.status, r.raised_at, r.resolved_at))
        .collect())
}
