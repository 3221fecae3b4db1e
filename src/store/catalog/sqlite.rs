//! SQLite: the writer connection already holds the write lock for the whole transaction; the
//! bulk insert of units reads the rows as one JSON array with `jsonb_each`, so an import of any
//! size is one statement with one SQL text.

use serde::Serialize;
use sqlx::SqliteConnection;

use crate::domain::unit::Unit;
use crate::store::values::code;

pub const LOCK_CAMPAIGN: &str = "SELECT id FROM campaigns WHERE id = $1";

#[derive(Serialize)]
struct UnitRow<'a> {
    id: &'a str,
    name: &'a str,
    kind: i16,
    parent_id: Option<&'a str>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    radius_m: Option<f64>,
    created_at: i64,
}

/// Inserts `units` (parents before children) in the caller's transaction.
pub async fn insert_units(conn: &mut SqliteConnection, units: &[Unit]) -> sqlx::Result<()> {
    let rows: Vec<UnitRow<'_>> = units
        .iter()
        .map(|u| UnitRow {
            id: u.id.as_str(),
            name: &u.name,
            kind: code(u.kind),
            parent_id: u.parent_id.as_ref().map(|p| p.as_str()),
            latitude: u.area.map(|a| a.latitude),
            longitude: u.area.map(|a| a.longitude),
            radius_m: u.area.map(|a| a.radius_meters),
            created_at: u.created_at.as_micros(),
        })
        .collect();
    sqlx::query(
        "INSERT INTO units (id, name, kind, parent_id, area_latitude, area_longitude, \
         area_radius_m, created_at) \
         SELECT r.value ->> 'id', r.value ->> 'name', r.value ->> 'kind', \
         r.value ->> 'parent_id', r.value ->> 'latitude', r.value ->> 'longitude', \
         r.value ->> 'radius_m', r.value ->> 'created_at' FROM jsonb_each(?) AS r \
         ORDER BY r.key",
    )
    .bind(serde_json::to_string(&rows).expect("unit rows always serialise"))
    .execute(conn)
    .await?;
    Ok(())
}
