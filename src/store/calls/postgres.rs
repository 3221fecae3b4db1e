//! PostgreSQL: cases of a batch are locked, read and written with one statement each (one
//! array per column), in key order, so concurrent writers of several processes cannot
//! deadlock on them.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use super::{
    CaseAttemptRow, CaseChanges, CaseKey, CaseRow, CaseUpdate, Interview, SELECT_CASE_ATTEMPTS,
    StoredCase, fold_cases, withdrawal,
};
use crate::domain::aapor::Disposition;
use crate::domain::ids::CampaignId;
use crate::error::Result;
use crate::store::values::code;

/// The first key of Canvass's call-case advisory locks ("CASE"), apart from other users'.
const CASE_LOCK_CLASS: i32 = 0x4341_5345;
/// Advisory locks the call cases are spread over.
const CASE_LOCK_STRIPES: u32 = 256;

/// The advisory lock (second key) guarding one case.
fn case_lock_stripe(campaign: &CampaignId, respondent: &[u8; 32]) -> i32 {
    let mut hash = Sha256::new();
    hash.update(campaign.as_str().as_bytes());
    hash.update([0]);
    hash.update(respondent);
    let digest = hash.finalize();
    let stripe =
        u32::from_le_bytes(digest[..4].try_into().expect("32-byte digest")) % CASE_LOCK_STRIPES;
    i32::try_from(stripe).expect("fewer stripes than i32::MAX")
}

/// Folds call outcomes into their cases and the per-disposition counts; returns each update's
/// resulting case disposition.
pub async fn apply_case_updates(
    conn: &mut PgConnection,
    updates: &[CaseUpdate],
) -> Result<Vec<Disposition>> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<CaseKey> = updates
        .iter()
        .map(|u| (u.campaign_id.clone(), u.respondent))
        .collect();
    let current = lock_cases(conn, &keys).await?;
    let changes = fold_cases(current, updates);
    write_case_changes(conn, &changes).await?;
    Ok(changes.finals)
}

/// Takes `interview` out of its case, which its other attempts then decide (see
/// [`withdrawal`]). The case is locked first, so an attempt logged meanwhile is folded into
/// the case this writes, or read with the others here.
pub async fn withdraw_interview(conn: &mut PgConnection, interview: &Interview) -> Result<()> {
    let key = interview.key();
    let mut current = lock_cases(conn, std::slice::from_ref(&key)).await?;
    let attempts: Vec<CaseAttemptRow> = sqlx::query_as(SELECT_CASE_ATTEMPTS)
        .bind(&interview.campaign_id)
        .bind(interview.respondent.as_slice())
        .fetch_all(&mut *conn)
        .await?;
    let changes = withdrawal(current.remove(&key), interview, attempts);
    write_case_changes(conn, &changes).await
}

/// Locks the cases of `keys` until commit and reads those that exist.
///
/// A case that does not exist yet has no row to lock: without the advisory lock, two
/// transactions that both create it would both count it. Cases are spread over a fixed set of
/// advisory locks, taken in order (so transactions cannot wait on each other in a cycle) and
/// held until commit; a fixed set keeps a batch of a thousand polls from filling PostgreSQL's
/// lock table.
async fn lock_cases(
    conn: &mut PgConnection,
    keys: &[CaseKey],
) -> Result<HashMap<CaseKey, StoredCase>> {
    let mut stripes: Vec<i32> = keys
        .iter()
        .map(|(campaign, respondent)| case_lock_stripe(campaign, respondent))
        .collect();
    stripes.sort_unstable();
    stripes.dedup();
    sqlx::query("SELECT pg_advisory_xact_lock($1, stripe) FROM UNNEST($2::int4[]) AS stripe")
        .bind(CASE_LOCK_CLASS)
        .bind(stripes)
        .fetch_all(&mut *conn)
        .await?;
    let campaigns: Vec<&str> = keys.iter().map(|(c, _)| c.as_str()).collect();
    let respondents: Vec<&[u8]> = keys.iter().map(|(_, r)| r.as_slice()).collect();
    let rows: Vec<CaseRow> = sqlx::query_as(concat!(
        "SELECT ",
        case_columns!(),
        " FROM call_cases WHERE (campaign_id, respondent_hash) IN \
         (SELECT * FROM UNNEST($1::text[], $2::bytea[])) \
         ORDER BY campaign_id, respondent_hash FOR UPDATE"
    ))
    .bind(campaigns)
    .bind(respondents)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(CaseRow::into_case).collect()
}

/// Writes the changed cases and adds the count deltas, each with one statement, in key order.
async fn write_case_changes(conn: &mut PgConnection, changes: &CaseChanges) -> Result<()> {
    let cases = changes.sorted_cases();
    if !cases.is_empty() {
        sqlx::query(
            "INSERT INTO call_cases (campaign_id, respondent_hash, unit_id, carrier, disposition, \
             decided_at, stand_in) SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::text[], \
             $4::int2[], $5::int2[], $6::timestamptz[], $7::bool[]) \
             ON CONFLICT (campaign_id, respondent_hash) DO UPDATE SET unit_id = EXCLUDED.unit_id, \
             carrier = EXCLUDED.carrier, disposition = EXCLUDED.disposition, \
             decided_at = EXCLUDED.decided_at, stand_in = EXCLUDED.stand_in",
        )
        .bind(
            cases
                .iter()
                .map(|((c, _), _)| c.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|((_, r), _)| r.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|(_, c)| c.unit_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|(_, c)| c.carrier.code())
                .collect::<Vec<_>>(),
        )
        .bind(
            cases
                .iter()
                .map(|(_, c)| code(c.outcome.disposition))
                .collect::<Vec<_>>(),
        )
        .bind(cases.iter().map(|(_, c)| c.outcome.at).collect::<Vec<_>>())
        .bind(cases.iter().map(|(_, c)| c.stand_in).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let counts = changes.sorted_counts();
    if !counts.is_empty() {
        sqlx::query(
            "INSERT INTO disposition_counts (campaign_id, unit_id, carrier, disposition, cases) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int2[], $4::int2[], $5::int8[]) \
             ON CONFLICT (campaign_id, unit_id, carrier, disposition) \
             DO UPDATE SET cases = disposition_counts.cases + EXCLUDED.cases",
        )
        .bind(
            counts
                .iter()
                .map(|((c, ..), _)| c.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            counts
                .iter()
                .map(|((_, u, ..), _)| u.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            counts
                .iter()
                .map(|((_, _, carrier, _), _)| carrier.code())
                .collect::<Vec<_>>(),
        )
        .bind(
            counts
                .iter()
                .map(|((.., d), _)| code(*d))
                .collect::<Vec<_>>(),
        )
        .bind(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
