//! PostgreSQL: a campaign update locks the campaign's row, so two updates take turns; the bulk
//! insert of units sends one array per column, unnested in one statement.

use sqlx::PgConnection;

use crate::domain::time::Timestamp;
use crate::domain::unit::Unit;
use crate::store::values::code;

pub const LOCK_CAMPAIGN: &str = "SELECT id FROM campaigns WHERE id = $1 FOR UPDATE";

/// Inserts `units` (parents before children) in the caller's transaction.
pub async fn insert_units(conn: &mut PgConnection, units: &[Unit]) -> sqlx::Result<()> {
    let ids: Vec<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
    let kinds: Vec<i16> = units.iter().map(|u| code(u.kind)).collect();
    let parents: Vec<Option<&str>> = units
        .iter()
        .map(|u| u.parent_id.as_ref().map(|p| p.as_str()))
        .collect();
    let latitudes: Vec<Option<f64>> = units.iter().map(|u| u.area.map(|a| a.latitude)).collect();
    let longitudes: Vec<Option<f64>> = units.iter().map(|u| u.area.map(|a| a.longitude)).collect();
    let radii: Vec<Option<f64>> = units
        .iter()
        .map(|u| u.area.map(|a| a.radius_meters))
        .collect();
    let created: Vec<Timestamp> = units.iter().map(|u| u.created_at).collect();
    sqlx::query(
        "INSERT INTO units (id, name, kind, parent_id, area_latitude, area_longitude, \
         area_radius_m, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int2[], $4::text[], \
         $5::float8[], $6::float8[], $7::float8[], $8::timestamptz[])",
    )
    .bind(ids)
    .bind(names)
    .bind(kinds)
    .bind(parents)
    .bind(latitudes)
    .bind(longitudes)
    .bind(radii)
    .bind(created)
    .execute(conn)
    .await?;
    Ok(())
}
