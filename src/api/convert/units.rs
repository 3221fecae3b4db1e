//! Units: creation, import, update masks and the wire form.

use super::masks::{mask_paths, refuse_path};
use super::*;
use crate::domain::lifecycle::UnitPatch;

pub fn unit_from_proto(unit: Option<pb::Unit>, now: Timestamp) -> Result<Unit> {
    let mut v = Violations::new();
    let unit = unit_fields(&mut v, "unit", &unit.unwrap_or_default(), now);
    v.into_result(|| unit)
}

/// The units of an import, with the index of each in the request. Every malformed field of
/// every unit is named (`units[12].kind`); malformed units are left out of the list, so the
/// planner can still name what else is wrong (duplicates, parents, cycles) in one answer.
///
/// # Errors
/// INVALID_ARGUMENT for an empty list or one over [`MAX_IMPORT_UNITS`].
pub fn import_units_from_proto(
    request: &pb::ImportUnitsRequest,
    now: Timestamp,
    v: &mut Violations,
) -> Result<Vec<(usize, Unit)>> {
    if request.units.is_empty() {
        return Err(Error::invalid("units", "must list at least one unit"));
    }
    if request.units.len() > MAX_IMPORT_UNITS {
        return Err(Error::invalid(
            "units",
            format!(
                "lists {} units; at most {MAX_IMPORT_UNITS} per import",
                request.units.len()
            ),
        ));
    }
    Ok(request
        .units
        .iter()
        .enumerate()
        .filter_map(|(i, unit)| unit_fields(v, &format!("units[{i}]"), unit, now).map(|u| (i, u)))
        .collect())
}

/// Most units one import may carry.
pub const MAX_IMPORT_UNITS: usize = 50_000;

/// Parses one unit, recording each malformed field under `prefix`.
fn unit_fields(v: &mut Violations, prefix: &str, unit: &pb::Unit, now: Timestamp) -> Option<Unit> {
    let id = v.check(format!("{prefix}.id"), UnitId::parse(&unit.id));
    let name = v.check(format!("{prefix}.name"), parse_name(&unit.name));
    let kind = v.check(format!("{prefix}.kind"), unit_kind(unit.kind));
    let parent_id = v.check(
        format!("{prefix}.parent_id"),
        optional_id(&unit.parent_id, UnitId::parse),
    );
    let area = unit
        .area
        .map(|a| area_from_proto(v, &format!("{prefix}.area"), &a));
    Some(Unit {
        id: id?,
        name: name?,
        kind: kind?,
        parent_id: parent_id?,
        area: match area {
            Some(parsed) => Some(parsed?),
            None => None,
        },
        created_at: now,
        archived_at: None,
    })
}

fn area_from_proto(v: &mut Violations, prefix: &str, a: &pb::GeoArea) -> Option<Area> {
    let latitude = v.check(format!("{prefix}.latitude"), parse_latitude(a.latitude));
    let longitude = v.check(format!("{prefix}.longitude"), parse_longitude(a.longitude));
    if !(a.radius_meters.is_finite() && a.radius_meters > 0.0) {
        v.add(
            format!("{prefix}.radius_meters"),
            "must be a finite number of metres above 0",
        );
    }
    Some(Area {
        latitude: latitude?,
        longitude: longitude?,
        radius_meters: a.radius_meters,
    })
}

/// An UpdateUnit request as the unit's id and the changes its mask names.
pub fn unit_patch_from_proto(r: pb::UpdateUnitRequest) -> Result<(UnitId, UnitPatch)> {
    let unit = r.unit.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("unit.id", UnitId::parse(&unit.id));
    let mut set = Vec::new();
    if !unit.name.is_empty() {
        set.push("name");
    }
    if !unit.parent_id.is_empty() {
        set.push("parent_id");
    }
    if unit.area.is_some() {
        set.push("area");
    }
    let explicit = r.update_mask.as_ref().is_some_and(|m| !m.paths.is_empty());
    let paths = mask_paths(r.update_mask.as_ref(), &["name", "parent_id", "area"], set);
    let mut patch = UnitPatch::default();
    for (i, path) in paths.iter().enumerate() {
        match path.as_str() {
            "name" => patch.name = v.check("unit.name", parse_name(&unit.name)),
            "parent_id" => {
                patch.parent_id = v.check(
                    "unit.parent_id",
                    optional_id(&unit.parent_id, UnitId::parse),
                );
            }
            "area" => {
                patch.area = Some(
                    unit.area
                        .as_ref()
                        .and_then(|a| area_from_proto(&mut v, "unit.area", a)),
                )
            }
            other if explicit => refuse_path(
                &mut v,
                i,
                other,
                &["id", "kind", "create_time", "archived", "archive_time"],
            ),
            _ => {}
        }
    }
    if paths.is_empty() {
        v.add(
            "update_mask",
            "names no field to change, and the unit sets none",
        );
    }
    v.into_result(|| Some((id?, patch)))
}

pub fn unit_to_proto(unit: &Unit) -> pb::Unit {
    pb::Unit {
        archived: unit.is_archived(),
        archive_time: unit.archived_at.map(timestamp_to_proto),
        area: unit.area.map(|a| pb::GeoArea {
            latitude: a.latitude,
            longitude: a.longitude,
            radius_meters: a.radius_meters,
        }),
        id: unit.id.to_string(),
        name: unit.name.clone(),
        kind: unit_kind_to_proto(unit.kind).into(),
        parent_id: unit
            .parent_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        create_time: Some(timestamp_to_proto(unit.created_at)),
    }
}
