//! A campaign's figures rolled up over its unit tree and kept rolled up: every unit with
//! children holds the sum over its subtree, so one unit's figures are a lookup, not a walk.
//! A change to one unit's own figures is added to it and to each of its ancestors (a handful
//! of additions of exact integers), so the sums always equal a roll-up done afresh.

use std::collections::{BTreeMap, HashMap};

use super::cells::{CellRow, Totals};
use super::ids::UnitId;
use super::pooling::CampaignStats;
use super::unit::UnitTree;

/// What a unit nobody counted in holds.
static EMPTY: Totals = Totals {
    cells: BTreeMap::new(),
};

/// A campaign's own figures per unit and, for each unit with children in `tree`, the figures
/// of its whole subtree.
#[derive(Debug, Clone)]
pub struct RolledUp {
    own: CampaignStats,
    subtree: HashMap<UnitId, Totals>,
    tree: UnitTree,
    /// Changes applied since the roll-up was made.
    changes: u64,
    /// The change that last altered each unit's totals (own or subtree); absent: none since
    /// the roll-up was made.
    changed: HashMap<UnitId, u64>,
}

impl RolledUp {
    /// Rolls `own` up over `tree`: O(units × depth).
    pub fn new(own: CampaignStats, tree: UnitTree) -> Self {
        let mut rolled = Self {
            own,
            subtree: HashMap::new(),
            tree,
            changes: 0,
            changed: HashMap::new(),
        };
        let units: Vec<(UnitId, Totals)> = rolled
            .own
            .units()
            .map(|(id, totals)| (id.clone(), totals.clone()))
            .collect();
        for (unit, totals) in units {
            rolled.add_to_subtrees(&unit, &totals, None);
        }
        rolled
    }

    /// The same own figures rolled up over another tree (after a unit moved, say).
    pub fn over(&self, tree: UnitTree) -> Self {
        Self::new(self.own.clone(), tree)
    }

    /// The tree the figures are rolled up over.
    pub fn tree(&self) -> &UnitTree {
        &self.tree
    }

    /// The pooled figures of `unit` and all its descendants in the tree; nothing for a unit
    /// the tree lacks.
    pub fn totals(&self, unit: &UnitId) -> &Totals {
        if self.tree.get(unit).is_none() {
            return &EMPTY;
        }
        self.subtree
            .get(unit)
            .or_else(|| self.own.of(unit))
            .unwrap_or(&EMPTY)
    }

    /// Adds one row of deltas (negative for figures taken away) to its unit's figures and to
    /// every subtree that holds the unit.
    pub fn apply(&mut self, row: &CellRow) {
        self.own.add(row);
        let totals = Totals {
            cells: BTreeMap::from([(row.cell.clone(), row.figures.clone())]),
        };
        self.changes += 1;
        mark(&mut self.changed, &row.unit_id, self.changes);
        self.add_to_subtrees(&row.unit_id, &totals, Some(self.changes));
    }

    /// The number of the last change applied to `unit`'s totals since the roll-up was made:
    /// 0 for none. Equal numbers mean equal totals, so what was computed from them still holds.
    pub fn changed_at(&self, unit: &UnitId) -> u64 {
        self.changed.get(unit).copied().unwrap_or(0)
    }

    /// Adds `totals` to the subtree sums of `unit` (when it has children) and of each of its
    /// ancestors, marking each as altered by `change`.
    fn add_to_subtrees(&mut self, unit: &UnitId, totals: &Totals, change: Option<u64>) {
        let mut current = self.tree.get(unit);
        // The depth bound guards against a cycle in corrupted data.
        for _ in 0..=self.tree.len() {
            let Some(u) = current else { return };
            if self.tree.children(&u.id).next().is_some() {
                self.subtree.entry(u.id.clone()).or_default().add(totals);
            }
            if let Some(change) = change {
                mark(&mut self.changed, &u.id, change);
            }
            current = u.parent_id.as_ref().and_then(|p| self.tree.get(p));
        }
    }
}

/// Records `change` as `unit`'s last, copying its id only the first time: this runs for every
/// applied row and each of its ancestors, under the figures' write lock.
fn mark(changed: &mut HashMap<UnitId, u64>, unit: &UnitId, change: u64) {
    match changed.get_mut(unit) {
        Some(last) => *last = change,
        None => {
            changed.insert(unit.clone(), change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cells::{CellKey, Figures, Stratum};
    use crate::domain::channel::{Carrier, Channel};
    use crate::domain::questionnaire::Questionnaire;
    use crate::domain::stats::Moments;
    use crate::domain::time::Timestamp;
    use crate::domain::unit::{Unit, UnitKind};
    use proptest::prelude::*;

    fn unit(id: &str, parent: Option<&str>) -> Unit {
        Unit {
            id: UnitId::parse(id).unwrap(),
            name: id.into(),
            kind: UnitKind::Village,
            parent_id: parent.map(|p| UnitId::parse(p).unwrap()),
            area: None,
            created_at: Timestamp::from_micros(0),
            archived_at: None,
        }
    }

    /// A root, two townships with two villages each, and a township without villages.
    fn tree() -> UnitTree {
        UnitTree::new([
            unit("p", None),
            unit("t1", Some("p")),
            unit("t2", Some("p")),
            unit("t3", Some("p")),
            unit("v1", Some("t1")),
            unit("v2", Some("t1")),
            unit("v3", Some("t2")),
            unit("v4", Some("t2")),
        ])
    }

    const UNITS: [&str; 9] = ["p", "t1", "t2", "t3", "v1", "v2", "v3", "v4", "gone"];

    /// A fresh walk over the subtree, the definition the roll-up must equal.
    fn walked(stats: &CampaignStats, tree: &UnitTree, root: &str) -> Totals {
        let mut totals = Totals::default();
        for u in tree.subtree(&UnitId::parse(root).unwrap()) {
            if let Some(own) = stats.of(&u.id) {
                totals.add(own);
            }
        }
        totals
    }

    fn delta(unit: usize, phone: bool, sign: i64, points: u8) -> CellRow {
        let answer = Moments::of_answer(Some(points), points >= 80);
        CellRow {
            unit_id: UnitId::parse(UNITS[unit]).unwrap(),
            cell: CellKey {
                channel: if phone {
                    Channel::Phone
                } else {
                    Channel::Visit
                },
                carrier: phone.then_some(Carrier::ChinaMobile),
                stratum: Stratum::default(),
            },
            figures: Figures {
                submissions: sign,
                indicators: vec![if sign < 0 { answer.negated() } else { answer }],
            },
        }
    }

    proptest! {
        /// Rows applied one by one, taken back (reviews) and rolled up over a changed tree
        /// always give what a fresh walk over the own figures gives, for every unit.
        #[test]
        fn applied_deltas_equal_a_fresh_roll_up(
            rows in prop::collection::vec((0..UNITS.len(), any::<bool>(), 0u8..=100), 1..60),
            taken_back in prop::collection::vec(any::<bool>(), 60),
        ) {
            let q = Questionnaire::for_tests(&["overall"]);
            let mut rolled = RolledUp::new(CampaignStats::from_cells([], &q).unwrap(), tree());
            let mut all = Vec::new();
            for (i, &(u, phone, points)) in rows.iter().enumerate() {
                all.push(delta(u, phone, 1, points));
                if taken_back[i] {
                    all.push(delta(u, phone, -1, points));
                }
            }
            let half = all.len() / 2;
            for row in &all[..half] {
                rolled.apply(row);
            }
            let midway: Vec<(u64, Totals)> = UNITS
                .iter()
                .map(|u| {
                    let id = UnitId::parse(u).unwrap();
                    (rolled.changed_at(&id), rolled.totals(&id).clone())
                })
                .collect();
            for row in &all[half..] {
                rolled.apply(row);
            }
            // A unit whose change number stayed put kept its totals.
            for (u, (at, totals)) in UNITS.iter().zip(&midway) {
                let id = UnitId::parse(u).unwrap();
                if rolled.changed_at(&id) == *at {
                    prop_assert_eq!(rolled.totals(&id), totals);
                }
            }
            let own = CampaignStats::from_cells(all.iter().cloned(), &q).unwrap();
            for root in UNITS {
                let id = UnitId::parse(root).unwrap();
                prop_assert_eq!(rolled.totals(&id).pooled(|_| true), walked(&own, &tree(), root).pooled(|_| true));
            }
            // v4 moves under t3: the roll-up over the new tree is rebuilt from own figures.
            let mut moved = tree();
            moved.insert(unit("v4", Some("t3")));
            let again = rolled.over(moved.clone());
            for root in UNITS {
                let id = UnitId::parse(root).unwrap();
                prop_assert_eq!(again.totals(&id).pooled(|_| true), walked(&own, &moved, root).pooled(|_| true));
            }
        }
    }

    #[test]
    fn a_unit_outside_the_tree_has_nothing_and_is_counted_once_it_joins() {
        let q = Questionnaire::for_tests(&["overall"]);
        let mut rolled = RolledUp::new(CampaignStats::from_cells([], &q).unwrap(), tree());
        rolled.apply(&delta(8, false, 1, 90));
        let gone = UnitId::parse("gone").unwrap();
        let root = UnitId::parse("p").unwrap();
        assert_eq!(rolled.totals(&gone), &Totals::default());
        assert_eq!(rolled.totals(&root), &Totals::default());
        let mut grown = tree();
        grown.insert(unit("gone", Some("t3")));
        let rolled = rolled.over(grown);
        assert_eq!(rolled.totals(&root).pooled(|_| true).submissions, 1);
        assert_eq!(rolled.totals(&gone).pooled(|_| true).submissions, 1);
    }
}
