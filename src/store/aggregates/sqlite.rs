//! SQLite: aggregate rows are read, summed in Rust and written back whole, in one statement
//! each. SQLite cannot add arrays in SQL (a JSON merge there measured ~77 µs per row); every
//! caller holds the write lock from the read to the write, so no other writer comes between.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{CellRowKey, Deltas, StoredCell, flat_moments, flat_top_three};
use crate::domain::cells::Figures;
use crate::error::Result;
use crate::store::values::{Counts, code};

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
pub(crate) use select_cells_sql;

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
pub(crate) use upsert_cells_sql;

/// Serialises bound rows; everything bound is strings and numbers.
pub fn to_json<T: Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).expect("rows of strings and numbers always serialise")
}

/// Aggregate row keys as the JSON array `select_cells_sql!` binds.
pub fn cell_keys_json<'a>(keys: impl Iterator<Item = &'a CellRowKey>) -> String {
    to_json(
        &keys
            .map(|(campaign, unit, channel, carrier, stratum)| {
                (
                    campaign.as_str(),
                    unit.as_str(),
                    code(*channel),
                    carrier.code(),
                    stratum.as_str(),
                )
            })
            .collect::<Vec<_>>(),
    )
}

/// The rows `deltas` touches with their new totals (stored figures plus deltas), as the JSON
/// array `upsert_cells_sql!` binds.
pub fn cell_rows_json(mut stored: HashMap<CellRowKey, Figures>, deltas: &Deltas) -> String {
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
                code(*channel),
                carrier.code(),
                stratum.as_str(),
                figures.submissions,
                Counts::json(&flat_moments(&figures)),
                Counts::json(&flat_top_three(&figures)),
            )
        })
        .collect();
    to_json(&rows)
}

/// Adds summed deltas to the aggregate rows (a review moving submissions in or out). Every
/// caller has already written in this transaction, so it holds SQLite's write lock.
pub async fn apply_deltas(conn: &mut SqliteConnection, deltas: &Deltas) -> Result<()> {
    if deltas.cells.is_empty() {
        return Ok(());
    }
    let rows: Vec<StoredCell> = sqlx::query_as(select_cells_sql!())
        .bind(cell_keys_json(deltas.cells.keys()))
        .fetch_all(&mut *conn)
        .await?;
    let stored = rows
        .into_iter()
        .map(StoredCell::into_parts)
        .collect::<Result<_>>()?;
    sqlx::query(upsert_cells_sql!())
        .bind(cell_rows_json(stored, deltas))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
