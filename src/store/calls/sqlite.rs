//! SQLite: cases are read and written one by one, under the write lock the caller holds.

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::{CaseRow, CaseUpdate, fold_cases};
use crate::domain::aapor::Disposition;
use crate::error::Result;

/// Folds call outcomes into their cases and the per-disposition counts; returns each update's
/// resulting case disposition.
pub async fn apply_case_updates(
    conn: &mut SqliteConnection,
    updates: &[CaseUpdate],
) -> Result<Vec<Disposition>> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let mut current = HashMap::new();
    for u in updates {
        let row: Option<CaseRow> = sqlx::query_as(
            "SELECT campaign_id, respondent_hash, unit_id, carrier, disposition, decided_at \
             FROM call_cases WHERE campaign_id = $1 AND respondent_hash = $2",
        )
        .bind(&u.campaign_id)
        .bind(u.respondent.as_slice())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            let (key, case) = row.into_case()?;
            current.insert(key, case);
        }
    }
    let changes = fold_cases(current, updates);
    for ((campaign, respondent), case) in changes.sorted_cases() {
        sqlx::query(
            "INSERT INTO call_cases (campaign_id, respondent_hash, unit_id, carrier, disposition, \
             decided_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (campaign_id, respondent_hash) DO UPDATE SET unit_id = excluded.unit_id, \
             carrier = excluded.carrier, disposition = excluded.disposition, \
             decided_at = excluded.decided_at",
        )
        .bind(campaign)
        .bind(respondent.as_slice())
        .bind(&case.unit_id)
        .bind(case.carrier)
        .bind(case.outcome.disposition)
        .bind(case.outcome.at)
        .execute(&mut *conn)
        .await?;
    }
    for ((campaign, unit, carrier, disposition), delta) in changes.sorted_counts() {
        sqlx::query(
            "INSERT INTO disposition_counts (campaign_id, unit_id, carrier, disposition, cases) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id, unit_id, carrier, disposition) \
             DO UPDATE SET cases = cases + excluded.cases",
        )
        .bind(campaign)
        .bind(unit)
        .bind(*carrier)
        .bind(*disposition)
        .bind(delta)
        .execute(&mut *conn)
        .await?;
    }
    Ok(changes.finals)
}
