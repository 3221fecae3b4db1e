//! Bulk import of units: which rows of a list are new, which exist already, and every reason
//! the list cannot be imported, each named by the row's index (`units[12].parent_id`), so a
//! person fixing the spreadsheet can act on all of them at once.

use std::collections::{HashMap, HashSet};

use super::audit::{Actor, AuditEntry};
use super::ids::UnitId;
use super::time::Timestamp;
use super::unit::{Unit, UnitTree};
use crate::error::Violations;

/// What an import writes: the new units, parents before children.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPlan {
    pub new: Vec<Unit>,
    /// Rows that exist already with the same content.
    pub unchanged: usize,
}

/// The field of row `index` as violations name it.
pub fn row_field(index: usize, field: &str) -> String {
    format!("units[{index}].{field}")
}

/// Same content as far as an import is concerned: everything but the creation time.
fn same_content(a: &Unit, b: &Unit) -> bool {
    a.name == b.name && a.kind == b.kind && a.parent_id == b.parent_id && a.area == b.area
}

/// Decides what importing `rows` (already parsed, in file order) into `existing` writes.
/// Parents may be rows after their children, or existing units. Every problem is recorded in
/// `v`: an id repeated in the list, a unit that exists with other content, a parent found
/// nowhere or archived, and every row on a cycle of parents. Work is linear in the rows (hash lookups into
/// the existing tree), never per row over the whole catalog.
pub fn plan(existing: &UnitTree, rows: Vec<(usize, Unit)>, v: &mut Violations) -> ImportPlan {
    let mut first_row: HashMap<UnitId, usize> = HashMap::with_capacity(rows.len());
    let mut unchanged = 0;
    let mut new: Vec<(usize, Unit)> = Vec::with_capacity(rows.len());
    for (index, unit) in rows {
        if let Some(first) = first_row.get(&unit.id) {
            v.add(
                row_field(index, "id"),
                format!("duplicates the id {} of units[{first}]", unit.id),
            );
            continue;
        }
        first_row.insert(unit.id.clone(), index);
        match existing.get(&unit.id) {
            Some(stored) if same_content(stored, &unit) => unchanged += 1,
            Some(stored) => v.add(
                row_field(index, "id"),
                format!(
                    "unit {} exists already with other content ({}); an import never changes a \
                     stored unit",
                    unit.id,
                    differences(stored, &unit)
                ),
            ),
            None => new.push((index, unit)),
        }
    }
    let new_ids: HashMap<&UnitId, usize> = new
        .iter()
        .enumerate()
        .map(|(at, (_, u))| (&u.id, at))
        .collect();
    let mut parent_of: Vec<Option<usize>> = Vec::with_capacity(new.len());
    for (index, unit) in &new {
        let parent = unit
            .parent_id
            .as_ref()
            .and_then(|p| new_ids.get(p).copied());
        if let Some(p) = &unit.parent_id
            && parent.is_none()
            && existing.get(p).is_none()
        {
            v.add(
                row_field(*index, "parent_id"),
                format!("no unit {p} in the catalog or in the list"),
            );
        } else if let Some(p) = &unit.parent_id
            && parent.is_none()
            && existing.get(p).is_some_and(Unit::is_archived)
        {
            v.add(
                row_field(*index, "parent_id"),
                format!("unit {p} is archived; restore it first or choose another parent"),
            );
        }
        parent_of.push(parent);
    }
    let order = parents_first(&parent_of);
    let placed: HashSet<usize> = order.iter().copied().collect();
    for at in (0..new.len()).filter(|at| !placed.contains(at)) {
        if let Some(cycle) = cycle_through(at, &parent_of) {
            let path: Vec<&str> = cycle.iter().map(|&i| new[i].1.id.as_str()).collect();
            v.add(
                row_field(new[at].0, "parent_id"),
                format!(
                    "forms a cycle of parents: {} -> {}",
                    path.join(" -> "),
                    path[0]
                ),
            );
        }
        // Rows under a cycle but not on it are reported through the cycle's rows.
    }
    let mut slots: Vec<Option<Unit>> = new.into_iter().map(|(_, u)| Some(u)).collect();
    ImportPlan {
        new: order
            .into_iter()
            .filter_map(|at| slots[at].take())
            .collect(),
        unchanged,
    }
}

/// The audit entry of an import that creates `plan.new`: one entry for the whole import, so
/// an import of 30,000 units writes one row of audit, listing every unit it created.
pub fn audit_entry(actor: &Actor, at: Timestamp, plan: &ImportPlan) -> AuditEntry {
    let created: Vec<&str> = plan.new.iter().map(|u| u.id.as_str()).collect();
    AuditEntry {
        actor: actor.subject.clone(),
        actor_role: actor.role.clone(),
        at,
        action: "import",
        target_kind: "unit",
        target_id: format!("{} units", created.len()),
        before: serde_json::Map::new(),
        after: serde_json::Map::from_iter([
            ("created".to_owned(), serde_json::json!(created)),
            (
                "unchanged_count".to_owned(),
                serde_json::json!(plan.unchanged),
            ),
        ]),
    }
}

/// Positions ordered so that each comes after its parent (Kahn's algorithm); positions on or
/// under a cycle are left out.
fn parents_first(parent_of: &[Option<usize>]) -> Vec<usize> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); parent_of.len()];
    let mut order = Vec::with_capacity(parent_of.len());
    for (at, parent) in parent_of.iter().enumerate() {
        match parent {
            Some(p) => children[*p].push(at),
            None => order.push(at),
        }
    }
    let mut next = 0;
    while next < order.len() {
        order.extend(children[order[next]].iter().copied());
        next += 1;
    }
    order
}

/// The cycle `start` lies on, starting at `start`; `None` when it only hangs under one.
fn cycle_through(start: usize, parent_of: &[Option<usize>]) -> Option<Vec<usize>> {
    let mut path = vec![start];
    let mut current = parent_of[start]?;
    while current != start {
        if path.len() > parent_of.len() {
            return None;
        }
        path.push(current);
        current = parent_of[current]?;
    }
    Some(path)
}

fn differences(stored: &Unit, row: &Unit) -> String {
    let mut out = Vec::new();
    if stored.name != row.name {
        out.push(format!("stored name {:?}", stored.name));
    }
    if stored.kind != row.kind {
        out.push(format!("stored kind {}", stored.kind.label()));
    }
    if stored.parent_id != row.parent_id {
        out.push(match &stored.parent_id {
            Some(p) => format!("stored parent {p}"),
            None => "stored without a parent".into(),
        });
    }
    if stored.area != row.area {
        out.push("stored area differs".into());
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::unit::UnitKind;

    fn unit(id: &str, parent: Option<&str>) -> Unit {
        Unit {
            parent_id: parent.map(|p| UnitId::parse(p).unwrap()),
            kind: if parent.is_some() {
                UnitKind::Village
            } else {
                UnitKind::City
            },
            ..Unit::for_tests(id)
        }
    }

    fn rows(units: Vec<Unit>) -> Vec<(usize, Unit)> {
        units.into_iter().enumerate().collect()
    }

    fn fields(v: Violations) -> Vec<String> {
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(crate::error::Error::InvalidArgument(list)) => {
                list.into_iter().map(|f| f.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn children_before_parents_are_ordered_parents_first() {
        let mut v = Violations::new();
        let plan = plan(
            &UnitTree::default(),
            rows(vec![
                unit("v1", Some("t1")),
                unit("t1", Some("city")),
                unit("city", None),
            ]),
            &mut v,
        );
        assert!(v.is_empty());
        let ids: Vec<_> = plan.new.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["city", "t1", "v1"]);
    }

    #[test]
    fn existing_parents_and_identical_units_are_accepted() {
        let existing = UnitTree::new([unit("city", None), unit("t1", Some("city"))]);
        let mut v = Violations::new();
        let plan = plan(
            &existing,
            rows(vec![unit("t1", Some("city")), unit("v1", Some("t1"))]),
            &mut v,
        );
        assert!(v.is_empty());
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.new.len(), 1);
    }

    #[test]
    fn every_bad_row_is_named() {
        let existing = UnitTree::new([unit("city", None)]);
        let mut changed = unit("city", None);
        changed.name = "Other".into();
        let mut v = Violations::new();
        plan(
            &existing,
            rows(vec![
                changed,                    // 0: other content
                unit("a", Some("nowhere")), // 1: unknown parent
                unit("a", Some("city")),    // 2: duplicate id
                unit("x", Some("y")),       // 3: cycle
                unit("y", Some("x")),       // 4: cycle
                unit("z", Some("z")),       // 5: its own parent
                unit("under", Some("x")),   // 6: under a cycle, not on it
                unit("fine", Some("city")), // 7
            ]),
            &mut v,
        );
        assert_eq!(
            fields(v),
            [
                "units[0].id",
                "units[2].id",
                "units[1].parent_id",
                "units[3].parent_id",
                "units[4].parent_id",
                "units[5].parent_id",
            ]
        );
    }
}
