//! Administrative units and the tree they form.

use rpds::{HashTrieMapSync, RedBlackTreeSetSync};

use super::geo::Area;
use super::ids::UnitId;
use super::time::Timestamp;

/// The level of a unit. Top down: province (省), prefecture (地级市), county (县, 县级市, 市辖区),
/// township and sub-district, village and community; departments sit under a city or a county.
/// `City` is a city at the top of its own tree, with townships and sub-districts below. Declared
/// top down, so the derived order is the levels' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitKind {
    Province,
    /// A prefecture-level city (地级市).
    Prefecture,
    /// A county, a county-level city or an urban district.
    County,
    City,
    /// 乡 / 镇
    Township,
    /// 街道 / 办事处
    Subdistrict,
    /// 村
    Village,
    /// 社区
    Community,
    /// 市直 / 县直单位
    Department,
}

impl UnitKind {
    pub const ALL: [UnitKind; 9] = [
        Self::Province,
        Self::Prefecture,
        Self::County,
        Self::City,
        Self::Township,
        Self::Subdistrict,
        Self::Village,
        Self::Community,
        Self::Department,
    ];

    /// The kinds at this kind's level: townships with sub-districts (乡镇办事处), villages with
    /// communities; every other kind is a level of its own.
    pub fn level(self) -> &'static [UnitKind] {
        use UnitKind::*;
        match self {
            Township | Subdistrict => &[Township, Subdistrict],
            Village | Community => &[Village, Community],
            Province => &[Province],
            Prefecture => &[Prefecture],
            County => &[County],
            City => &[City],
            Department => &[Department],
        }
    }

    /// A lower-case name for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::Prefecture => "prefecture",
            Self::County => "county",
            Self::City => "city",
            Self::Township => "township",
            Self::Subdistrict => "sub-district",
            Self::Village => "village",
            Self::Community => "community",
            Self::Department => "department",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    pub kind: UnitKind,
    pub parent_id: Option<UnitId>,
    /// Where visits to the unit should be recorded; units without one use an ancestor's.
    pub area: Option<Area>,
    pub created_at: Timestamp,
    /// When the unit was archived; `None` while it is live.
    pub archived_at: Option<Timestamp>,
}

impl Unit {
    /// Root village `id`, named after its id, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(id: &str) -> Self {
        Self {
            id: UnitId::parse(id).unwrap(),
            name: id.into(),
            kind: UnitKind::Village,
            parent_id: None,
            area: None,
            created_at: Timestamp::from_micros(0),
            archived_at: None,
        }
    }

    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// A change of a unit's parent, kept so that a campaign that closed before it can be read on
/// the tree it closed with.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitMove {
    pub unit_id: UnitId,
    pub from: Option<UnitId>,
    pub to: Option<UnitId>,
    pub at: Timestamp,
}

/// All units, indexed for the walks that scope checks and roll-ups need.
///
/// Persistent maps: a clone shares everything and an insert copies only the path to the
/// changed entry, so publishing a catalog snapshot after a change costs O(log n), not a copy
/// of every unit.
#[derive(Debug, Clone, Default)]
pub struct UnitTree {
    units: HashTrieMapSync<UnitId, Unit>,
    children: HashTrieMapSync<UnitId, RedBlackTreeSetSync<UnitId>>,
    /// Every id, in order, for listing.
    ids: RedBlackTreeSetSync<UnitId>,
}

impl UnitTree {
    pub fn new(units: impl IntoIterator<Item = Unit>) -> Self {
        let mut tree = Self::default();
        for unit in units {
            tree.insert(unit);
        }
        tree
    }

    /// Adds `unit`, or replaces the unit with its id (moving it when its parent changed).
    pub fn insert(&mut self, unit: Unit) {
        if let Some(old_parent) = self.units.get(&unit.id).and_then(|u| u.parent_id.clone())
            && let Some(siblings) = self.children.get(&old_parent)
        {
            let remaining = siblings.remove(&unit.id);
            self.children.insert_mut(old_parent, remaining);
        }
        if let Some(parent) = &unit.parent_id {
            let siblings = self
                .children
                .get(parent)
                .cloned()
                .unwrap_or_default()
                .insert(unit.id.clone());
            self.children.insert_mut(parent.clone(), siblings);
        }
        self.ids.insert_mut(unit.id.clone());
        self.units.insert_mut(unit.id.clone(), unit);
    }

    /// Takes `id` and its subtree out of the tree.
    fn remove_subtree(&mut self, id: &UnitId) {
        let ids: Vec<UnitId> = self.subtree(id).iter().map(|u| u.id.clone()).collect();
        if let Some(parent) = self.units.get(id).and_then(|u| u.parent_id.clone())
            && let Some(siblings) = self.children.get(&parent)
        {
            let remaining = siblings.remove(id);
            self.children.insert_mut(parent, remaining);
        }
        for id in ids {
            self.units.remove_mut(&id);
            self.children.remove_mut(&id);
            self.ids.remove_mut(&id);
        }
    }

    pub fn get(&self, id: &UnitId) -> Option<&Unit> {
        self.units.get(id)
    }

    pub fn len(&self) -> usize {
        self.units.size()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Every unit, in id order.
    pub fn all(&self) -> impl Iterator<Item = &Unit> {
        self.ids.iter().filter_map(|id| self.units.get(id))
    }

    /// The direct children of `id`, in id order.
    pub fn children(&self, id: &UnitId) -> impl Iterator<Item = &UnitId> {
        self.children.get(id).into_iter().flat_map(|c| c.iter())
    }

    /// True when `ancestor` is `unit` itself or lies on the path from `unit` to its root.
    pub fn is_within(&self, unit: &UnitId, ancestor: &UnitId) -> bool {
        let mut current = Some(unit);
        // The depth bound guards against a cycle in corrupted data.
        for _ in 0..=self.units.size() {
            match current {
                Some(id) if id == ancestor => return true,
                Some(id) => current = self.units.get(id).and_then(|u| u.parent_id.as_ref()),
                None => return false,
            }
        }
        false
    }

    /// The area of `unit` or of its nearest ancestor that has one.
    pub fn area_of(&self, unit: &UnitId) -> Option<Area> {
        let mut current = self.units.get(unit);
        for _ in 0..=self.units.size() {
            let u = current?;
            if u.area.is_some() {
                return u.area;
            }
            current = u.parent_id.as_ref().and_then(|p| self.units.get(p));
        }
        None
    }

    /// `root` and all its descendants, parents before children.
    pub fn subtree(&self, root: &UnitId) -> Vec<&Unit> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if let Some(unit) = self.units.get(id) {
                out.push(unit);
                let children: Vec<&UnitId> = self.children(id).collect();
                stack.extend(children.into_iter().rev());
            }
        }
        out
    }

    /// The tree a campaign created at `created_at` and closing at `closes_at` is read on:
    /// parents as they stood at the close (moves after it undone, newest first), without the
    /// units archived before the campaign was created. `None` when that is this tree itself.
    /// `moves` are in the order they were made.
    pub fn as_seen_by(
        &self,
        created_at: Timestamp,
        closes_at: Timestamp,
        moves: &[UnitMove],
    ) -> Option<UnitTree> {
        let later_moves: Vec<&UnitMove> = moves.iter().filter(|m| m.at >= closes_at).collect();
        let archived: Vec<UnitId> = self
            .all()
            .filter(|u| u.archived_at.is_some_and(|at| at <= created_at))
            .map(|u| u.id.clone())
            .collect();
        if later_moves.is_empty() && archived.is_empty() {
            return None;
        }
        let mut tree = self.clone();
        for m in later_moves.iter().rev() {
            if let Some(unit) = tree.get(&m.unit_id) {
                let unit = Unit {
                    parent_id: m.from.clone(),
                    ..unit.clone()
                };
                tree.insert(unit);
            }
        }
        for id in &archived {
            tree.remove_subtree(id);
        }
        Some(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>, kind: UnitKind) -> Unit {
        Unit {
            id: UnitId::parse(id).unwrap(),
            name: id.to_uppercase(),
            kind,
            parent_id: parent.map(|p| UnitId::parse(p).unwrap()),
            area: None,
            created_at: Timestamp::from_micros(0),
            archived_at: None,
        }
    }

    fn sample() -> UnitTree {
        UnitTree::new([
            unit("city", None, UnitKind::City),
            unit("t1", Some("city"), UnitKind::Township),
            unit("v1", Some("t1"), UnitKind::Village),
            unit("v2", Some("t1"), UnitKind::Village),
            unit("t2", Some("city"), UnitKind::Township),
        ])
    }

    #[test]
    fn ancestry_includes_self_and_excludes_siblings() {
        let tree = sample();
        let id = |s| UnitId::parse(s).unwrap();
        assert!(tree.is_within(&id("v1"), &id("v1")));
        assert!(tree.is_within(&id("v1"), &id("city")));
        assert!(!tree.is_within(&id("v1"), &id("t2")));
        assert!(!tree.is_within(&id("t1"), &id("v1")));
    }

    #[test]
    fn subtree_lists_every_descendant_once() {
        let tree = sample();
        let ids: Vec<_> = tree
            .subtree(&UnitId::parse("t1").unwrap())
            .iter()
            .map(|u| u.id.to_string())
            .collect();
        assert_eq!(ids, ["t1", "v1", "v2"]);
        assert_eq!(tree.subtree(&UnitId::parse("city").unwrap()).len(), 5);
    }

    #[test]
    fn a_move_relinks_children_and_the_copy_is_independent() {
        let tree = sample();
        let id = |s| UnitId::parse(s).unwrap();
        let mut moved = tree.clone();
        let v1 = tree.get(&id("v1")).unwrap().clone();
        moved.insert(Unit {
            parent_id: Some(id("t2")),
            ..v1
        });
        assert!(moved.is_within(&id("v1"), &id("t2")));
        assert_eq!(moved.children(&id("t1")).collect::<Vec<_>>(), [&id("v2")]);
        assert_eq!(moved.children(&id("t2")).collect::<Vec<_>>(), [&id("v1")]);
        // The original is untouched.
        assert!(tree.is_within(&id("v1"), &id("t1")));
        assert_eq!(moved.len(), 5);
    }

    #[test]
    fn a_campaign_sees_the_parents_it_closed_with_and_no_unit_archived_before_it() {
        let id = |s| UnitId::parse(s).unwrap();
        let at = Timestamp::from_micros;
        let mut tree = sample();
        let v1 = tree.get(&id("v1")).unwrap().clone();
        tree.insert(Unit {
            parent_id: Some(id("t2")),
            ..v1
        });
        let v2 = tree.get(&id("v2")).unwrap().clone();
        tree.insert(Unit {
            archived_at: Some(at(50)),
            ..v2
        });
        let moves = [UnitMove {
            unit_id: id("v1"),
            from: Some(id("t1")),
            to: Some(id("t2")),
            at: at(100),
        }];
        // Closed before the move, created before the archive: the old tree, v2 included.
        let past = tree.as_seen_by(at(0), at(90), &moves).unwrap();
        assert!(past.is_within(&id("v1"), &id("t1")));
        assert!(past.get(&id("v2")).is_some());
        // Created after the archive, closing after the move: today's tree without v2.
        let new = tree.as_seen_by(at(60), at(200), &moves).unwrap();
        assert!(new.is_within(&id("v1"), &id("t2")));
        assert!(new.get(&id("v2")).is_none());
        assert_eq!(new.children(&id("t1")).count(), 0);
        // Nothing to undo or hide: the tree itself.
        assert!(tree.as_seen_by(at(0), at(200), &[]).is_none());
    }
}
