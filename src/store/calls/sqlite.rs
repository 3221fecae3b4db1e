//! SQLite: cases are read and written one by one, under the write lock the caller holds.

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::{
    CaseAttemptRow, CaseChanges, CaseKey, CaseRow, CaseUpdate, Interview, SELECT_CASE_ATTEMPTS,
    StoredCase, fold_cases, withdrawal,
};
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
        let key = (u.campaign_id.clone(), u.respondent);
        if let Some(case) = read_case(conn, &key).await? {
            current.insert(key, case);
        }
    }
    let changes = fold_cases(current, updates);
    write_case_changes(conn, &changes).await?;
    Ok(changes.finals)
}

/// Takes `interview` out of its case, which its other attempts then decide (see
/// [`withdrawal`]).
pub async fn withdraw_interview(conn: &mut SqliteConnection, interview: &Interview) -> Result<()> {
    let current = read_case(conn, &interview.key()).await?;
    let attempts: Vec<CaseAttemptRow> = sqlx::query_as(SELECT_CASE_ATTEMPTS)
        .bind(&interview.campaign_id)
        .bind(interview.respondent.as_slice())
        .fetch_all(&mut *conn)
        .await?;
    let changes = withdrawal(current, interview, attempts);
    write_case_changes(conn, &changes).await
}

async fn read_case(conn: &mut SqliteConnection, key: &CaseKey) -> Result<Option<StoredCase>> {
    let row: Option<CaseRow> = sqlx::query_as(concat!(
        "SELECT ",
        case_columns!(),
        " FROM call_cases WHERE campaign_id = $1 AND respondent_hash = $2"
    ))
    .bind(&key.0)
    .bind(key.1.as_slice())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| r.into_case().map(|(_, case)| case)).transpose()
}

async fn write_case_changes(conn: &mut SqliteConnection, changes: &CaseChanges) -> Result<()> {
    for ((campaign, respondent), case) in changes.sorted_cases() {
        sqlx::query(
            "INSERT INTO call_cases (campaign_id, respondent_hash, unit_id, carrier, disposition, \
             decided_at, stand_in) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (campaign_id, respondent_hash) DO UPDATE SET unit_id = excluded.unit_id, \
             carrier = excluded.carrier, disposition = excluded.disposition, \
             decided_at = excluded.decided_at, stand_in = excluded.stand_in",
        )
        .bind(campaign)
        .bind(respondent.as_slice())
        .bind(&case.unit_id)
        .bind(case.carrier)
        .bind(case.outcome.disposition)
        .bind(case.outcome.at)
        .bind(case.stand_in)
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
    Ok(())
}
