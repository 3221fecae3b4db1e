//! What an update, an archive or a restore may do to a unit.

use serde_json::{Value, json};

use crate::domain::geo::Area;
use crate::domain::ids::UnitId;
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitTree};
use crate::error::{Error, Result};

/// The fields an UpdateUnit changes: `Some` for each field in the mask.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitPatch {
    pub name: Option<String>,
    /// `Some(None)` makes the unit a root.
    pub parent_id: Option<Option<UnitId>>,
    /// `Some(None)` clears the area.
    pub area: Option<Option<Area>>,
}

/// Refuses a parent that is archived: nothing new goes under a unit no new campaign surveys.
///
/// # Errors
/// NOT_FOUND for an unknown parent; FAILED_PRECONDITION (PARENT_ARCHIVED, `field`).
pub fn require_live_parent(tree: &UnitTree, parent: &UnitId, field: &str) -> Result<()> {
    let unit = tree
        .get(parent)
        .ok_or_else(|| Error::not_found("unit", parent.as_str()))?;
    if unit.is_archived() {
        return Err(Error::precondition(
            "PARENT_ARCHIVED",
            field,
            format!("unit {parent} is archived; restore it first or choose another parent"),
        ));
    }
    Ok(())
}

/// The unit after `patch`. A move keeps the tree acyclic: the new parent may be neither the
/// unit nor one of its descendants. The catalog puts no rule on which kind sits under which,
/// at creation or on a move.
///
/// # Errors
/// NOT_FOUND for an unknown parent; FAILED_PRECONDITION (UNIT_TREE_CYCLE or PARENT_ARCHIVED,
/// `unit.parent_id`).
pub fn updated_unit(tree: &UnitTree, before: &Unit, patch: &UnitPatch) -> Result<Unit> {
    if let Some(Some(parent)) = &patch.parent_id
        && before.parent_id.as_ref() != Some(parent)
    {
        if tree.get(parent).is_some() && tree.is_within(parent, &before.id) {
            return Err(Error::precondition(
                "UNIT_TREE_CYCLE",
                "unit.parent_id",
                format!(
                    "unit {parent} is {} itself or lies under it; a unit cannot move into its own subtree",
                    before.id
                ),
            ));
        }
        require_live_parent(tree, parent, "unit.parent_id")?;
    }
    Ok(Unit {
        name: patch.name.clone().unwrap_or_else(|| before.name.clone()),
        parent_id: patch
            .parent_id
            .clone()
            .unwrap_or_else(|| before.parent_id.clone()),
        area: patch.area.unwrap_or(before.area),
        ..before.clone()
    })
}

/// Most children a refusal names.
const NAMED_CHILDREN: usize = 10;

/// The unit archived at `at`, or `None` when it is archived already. A unit with live
/// children is refused: they would be surveyed under a unit that is not, and roll up into
/// nothing.
///
/// # Errors
/// FAILED_PRECONDITION (UNIT_HAS_LIVE_CHILDREN, `units/<id>`), naming the live children.
pub fn archived_unit(tree: &UnitTree, unit: &Unit, at: Timestamp) -> Result<Option<Unit>> {
    if unit.is_archived() {
        return Ok(None);
    }
    let live: Vec<&UnitId> = tree
        .children(&unit.id)
        .filter(|c| tree.get(c).is_some_and(|c| !c.is_archived()))
        .collect();
    if !live.is_empty() {
        let mut names: Vec<String> = live
            .iter()
            .take(NAMED_CHILDREN)
            .map(ToString::to_string)
            .collect();
        if live.len() > NAMED_CHILDREN {
            names.push(format!("and {} more", live.len() - NAMED_CHILDREN));
        }
        return Err(Error::precondition(
            "UNIT_HAS_LIVE_CHILDREN",
            format!("units/{}", unit.id),
            format!(
                "unit {} has children that are not archived: {}; archive or move them first",
                unit.id,
                names.join(", ")
            ),
        ));
    }
    Ok(Some(Unit {
        archived_at: Some(at),
        ..unit.clone()
    }))
}

/// The unit restored, or `None` when it is live already.
///
/// # Errors
/// FAILED_PRECONDITION (PARENT_ARCHIVED, `unit.parent_id`) while its parent is archived.
pub fn restored_unit(tree: &UnitTree, unit: &Unit) -> Result<Option<Unit>> {
    if !unit.is_archived() {
        return Ok(None);
    }
    if let Some(parent) = &unit.parent_id {
        require_live_parent(tree, parent, "unit.parent_id")?;
    }
    Ok(Some(Unit {
        archived_at: None,
        ..unit.clone()
    }))
}

/// The fields of a unit as the audit log records them.
pub fn unit_fields(unit: &Unit) -> Value {
    json!({
        "name": unit.name,
        "kind": unit.kind.label(),
        "parent_id": unit.parent_id.as_ref().map(UnitId::as_str),
        "area": unit.area.map(|a| json!({
            "latitude": a.latitude,
            "longitude": a.longitude,
            "radius_meters": a.radius_meters,
        })),
        "archived_at": unit.archived_at.map(Timestamp::as_micros),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::test_support::subject;
    use crate::domain::unit::UnitKind;

    fn id(s: &str) -> UnitId {
        UnitId::parse(s).unwrap()
    }

    fn tree() -> UnitTree {
        let unit = |i: &str, parent: Option<&str>, kind| Unit {
            kind,
            parent_id: parent.map(id),
            ..Unit::for_tests(i)
        };
        UnitTree::new([
            unit("city", None, UnitKind::City),
            unit("t1", Some("city"), UnitKind::Township),
            unit("v1", Some("t1"), UnitKind::Village),
            unit("t2", Some("city"), UnitKind::Township),
            Unit {
                archived_at: Some(Timestamp::from_micros(5)),
                ..unit("t3", Some("city"), UnitKind::Township)
            },
        ])
    }

    #[test]
    fn a_move_may_not_close_a_cycle_or_go_under_an_archived_unit() {
        let tree = tree();
        let t1 = tree.get(&id("t1")).unwrap();
        let to = |p: &str| UnitPatch {
            parent_id: Some(Some(id(p))),
            ..UnitPatch::default()
        };
        assert_eq!(
            updated_unit(&tree, t1, &to("t2")).unwrap().parent_id,
            Some(id("t2"))
        );
        for into_itself in ["t1", "v1"] {
            assert_eq!(
                subject(updated_unit(&tree, t1, &to(into_itself))),
                ("UNIT_TREE_CYCLE".into(), "unit.parent_id".into())
            );
        }
        assert_eq!(
            subject(updated_unit(&tree, t1, &to("t3"))),
            ("PARENT_ARCHIVED".into(), "unit.parent_id".into())
        );
        assert!(matches!(
            updated_unit(&tree, t1, &to("nowhere")),
            Err(Error::NotFound { .. })
        ));
        let renamed = UnitPatch {
            name: Some("金石街道".into()),
            area: Some(None),
            ..UnitPatch::default()
        };
        let after = updated_unit(&tree, t1, &renamed).unwrap();
        assert_eq!(
            (after.name.as_str(), after.parent_id),
            ("金石街道", Some(id("city")))
        );
    }

    #[test]
    fn archiving_needs_archived_children_and_restoring_a_live_parent() {
        let tree = tree();
        let at = Timestamp::from_micros(9);
        let (kind, subject_) = subject(archived_unit(&tree, tree.get(&id("t1")).unwrap(), at));
        assert_eq!(
            (kind.as_str(), subject_.as_str()),
            ("UNIT_HAS_LIVE_CHILDREN", "units/t1")
        );
        let v1 = archived_unit(&tree, tree.get(&id("v1")).unwrap(), at)
            .unwrap()
            .unwrap();
        assert_eq!(v1.archived_at, Some(at));
        let t3 = tree.get(&id("t3")).unwrap();
        assert_eq!(archived_unit(&tree, t3, at).unwrap(), None);
        assert_eq!(restored_unit(&tree, t3).unwrap().unwrap().archived_at, None);
        assert_eq!(
            restored_unit(&tree, tree.get(&id("t2")).unwrap()).unwrap(),
            None
        );
        let under_archived = Unit {
            parent_id: Some(id("t3")),
            archived_at: Some(at),
            ..Unit::for_tests("v9")
        };
        assert_eq!(
            subject(restored_unit(&tree, &under_archived)),
            ("PARENT_ARCHIVED".into(), "unit.parent_id".into())
        );
    }
}
