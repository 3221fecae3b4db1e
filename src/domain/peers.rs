//! Peer groups: which units one ranking compares. A peer group is a set of unit kinds, and its
//! peers are the units of those kinds under the scope. Reports rank a city's townships and
//! sub-districts in one sequence (乡镇办事处), its departments among themselves, and a province's
//! county-level units across the province; the defaults follow them.

use std::collections::BTreeSet;

use super::ids::UnitId;
use super::unit::{Unit, UnitKind, UnitTree};

/// The unit kinds compared in one ranking: at least one, each once, in level order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerGroup(BTreeSet<UnitKind>);

impl PeerGroup {
    /// The group of `kinds` (duplicates count once); `None` when there are none.
    pub fn of(kinds: impl IntoIterator<Item = UnitKind>) -> Option<Self> {
        let kinds: BTreeSet<UnitKind> = kinds.into_iter().collect();
        (!kinds.is_empty()).then_some(Self(kinds))
    }

    /// The group a ranking under a unit of kind `scope` compares when none is named: the level
    /// directly below the scope's, without departments, which are ranked only when asked for.
    /// A province's is the county level, not its prefectures: provincial reports rank the
    /// province's county-level units. `None` under a village, community or department, which
    /// have no level below them.
    pub fn default_under(scope: UnitKind) -> Option<Self> {
        use UnitKind::*;
        let below: &[UnitKind] = match scope {
            Province | Prefecture => County.level(),
            County | City => Township.level(),
            Township | Subdistrict => Village.level(),
            Village | Community | Department => &[],
        };
        Self::of(below.iter().copied())
    }

    /// The group a unit of `kind` is ranked in when its own standing is asked for: its level
    /// (a township among townships and sub-districts).
    pub fn around(kind: UnitKind) -> Self {
        Self::of(kind.level().iter().copied()).expect("every level has a kind")
    }

    /// The group a ranking under `scope` compares: `requested`, or the default under the scope.
    ///
    /// # Errors
    /// None requested under a scope without a default group.
    pub fn for_ranking_under(requested: Option<PeerGroup>, scope: &Unit) -> Result<Self, String> {
        requested
            .or_else(|| Self::default_under(scope.kind))
            .ok_or_else(|| {
                format!(
                    "scope unit {} is a {}, which has no default peer group; name the kinds to rank",
                    scope.id,
                    scope.kind.label()
                )
            })
    }

    /// The group `unit`'s own standing is read in: `requested`, or the unit's level.
    ///
    /// # Errors
    /// A requested group without the unit's kind, which could not place the unit.
    pub fn for_standing_of(requested: Option<PeerGroup>, unit: &Unit) -> Result<Self, String> {
        match requested {
            None => Ok(Self::around(unit.kind)),
            Some(group) if group.contains(unit.kind) => Ok(group),
            Some(_) => Err(format!(
                "must include the kind of unit {}, a {}",
                unit.id,
                unit.kind.label()
            )),
        }
    }

    pub fn contains(&self, kind: UnitKind) -> bool {
        self.0.contains(&kind)
    }

    /// The kinds, top level first.
    pub fn kinds(&self) -> impl Iterator<Item = UnitKind> + '_ {
        self.0.iter().copied()
    }
}

/// The units of `group` strictly under `scope`: the peers a ranking compares. The scope itself
/// is never its own peer.
pub fn peers<'t>(tree: &'t UnitTree, scope: &UnitId, group: &PeerGroup) -> Vec<&'t Unit> {
    tree.subtree(scope)
        .into_iter()
        .filter(|u| group.contains(u.kind) && &u.id != scope)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;
    use UnitKind::*;

    fn unit(id: &str, parent: Option<&str>, kind: UnitKind) -> Unit {
        Unit {
            id: UnitId::parse(id).unwrap(),
            name: id.into(),
            kind,
            parent_id: parent.map(|p| UnitId::parse(p).unwrap()),
            area: None,
            created_at: Timestamp::from_micros(0),
            archived_at: None,
        }
    }

    /// A province with one prefecture, whose county has a township, a sub-district and a
    /// department, with a village and a community below.
    fn province() -> UnitTree {
        UnitTree::new([
            unit("p", None, Province),
            unit("pf", Some("p"), Prefecture),
            unit("pf-d", Some("pf"), Department),
            unit("c1", Some("pf"), County),
            unit("c2", Some("pf"), County),
            unit("t", Some("c1"), Township),
            unit("s", Some("c1"), Subdistrict),
            unit("d", Some("c1"), Department),
            unit("v", Some("t"), Village),
            unit("cm", Some("s"), Community),
        ])
    }

    fn ids(units: &[&Unit]) -> Vec<String> {
        let mut ids: Vec<String> = units.iter().map(|u| u.id.to_string()).collect();
        ids.sort();
        ids
    }

    fn group(kinds: &[UnitKind]) -> PeerGroup {
        PeerGroup::of(kinds.iter().copied()).unwrap()
    }

    #[test]
    fn defaults_are_the_level_below_with_departments_apart() {
        assert_eq!(PeerGroup::default_under(Province), Some(group(&[County])));
        assert_eq!(PeerGroup::default_under(Prefecture), Some(group(&[County])));
        for scope in [County, City] {
            let expected = group(&[Township, Subdistrict]);
            assert_eq!(PeerGroup::default_under(scope), Some(expected), "{scope:?}");
        }
        for scope in [Township, Subdistrict] {
            let expected = group(&[Village, Community]);
            assert_eq!(PeerGroup::default_under(scope), Some(expected), "{scope:?}");
        }
        for scope in [Village, Community, Department] {
            assert_eq!(PeerGroup::default_under(scope), None, "{scope:?}");
        }
        for scope in UnitKind::ALL {
            let default = PeerGroup::default_under(scope);
            assert!(
                !default.is_some_and(|g| g.contains(Department)),
                "{scope:?}"
            );
        }
    }

    #[test]
    fn a_unit_is_placed_among_its_level() {
        assert_eq!(
            PeerGroup::around(Subdistrict),
            group(&[Township, Subdistrict])
        );
        assert_eq!(PeerGroup::around(Community), group(&[Village, Community]));
        assert_eq!(PeerGroup::around(Department), group(&[Department]));
        assert_eq!(PeerGroup::around(County), group(&[County]));
        for kind in UnitKind::ALL {
            assert!(PeerGroup::around(kind).contains(kind), "{kind:?}");
        }
    }

    #[test]
    fn groups_hold_each_kind_once_in_level_order() {
        let g = group(&[Community, Township, Community, Province]);
        assert_eq!(
            g.kinds().collect::<Vec<_>>(),
            [Province, Township, Community]
        );
        assert_eq!(PeerGroup::of([]), None);
    }

    #[test]
    fn a_named_group_wins_and_a_standing_needs_the_unit_s_kind() {
        let tree = province();
        let unit = |id: &str| tree.get(&UnitId::parse(id).unwrap()).unwrap();
        let departments = group(&[Department]);
        let chosen = PeerGroup::for_ranking_under(Some(departments.clone()), unit("c1"));
        assert_eq!(chosen, Ok(departments.clone()));
        let default = PeerGroup::for_ranking_under(None, unit("c1"));
        assert_eq!(default, Ok(group(&[Township, Subdistrict])));
        assert!(PeerGroup::for_ranking_under(None, unit("v")).is_err());
        assert!(PeerGroup::for_ranking_under(Some(departments.clone()), unit("v")).is_ok());

        assert_eq!(
            PeerGroup::for_standing_of(None, unit("s")),
            Ok(group(&[Township, Subdistrict]))
        );
        let wider = group(&[Township, Subdistrict, Department]);
        assert_eq!(
            PeerGroup::for_standing_of(Some(wider.clone()), unit("s")),
            Ok(wider)
        );
        assert!(PeerGroup::for_standing_of(Some(departments), unit("s")).is_err());
    }

    #[test]
    fn peers_are_the_group_s_units_anywhere_under_the_scope() {
        let tree = province();
        let id = |s: &str| UnitId::parse(s).unwrap();
        let p = id("p");
        let county_level = PeerGroup::default_under(Province).unwrap();
        assert_eq!(ids(&peers(&tree, &p, &county_level)), ["c1", "c2"]);
        let township_level = PeerGroup::default_under(County).unwrap();
        assert_eq!(ids(&peers(&tree, &id("c1"), &township_level)), ["s", "t"]);
        assert_eq!(ids(&peers(&tree, &p, &township_level)), ["s", "t"]);
        let departments = group(&[Department]);
        assert_eq!(ids(&peers(&tree, &id("c1"), &departments)), ["d"]);
        assert_eq!(ids(&peers(&tree, &p, &departments)), ["d", "pf-d"]);
        assert_eq!(
            ids(&peers(&tree, &id("c2"), &township_level)),
            Vec::<String>::new()
        );
        // The scope is not its own peer, even when its kind is in the group.
        assert_eq!(
            ids(&peers(&tree, &id("c1"), &group(&[County]))),
            Vec::<String>::new()
        );
    }
}
