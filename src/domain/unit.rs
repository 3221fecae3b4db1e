//! Administrative units and the tree they form.

use std::collections::HashMap;

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
        }
    }
}

/// All units, indexed for the walks that scope checks and roll-ups need.
#[derive(Debug, Clone, Default)]
pub struct UnitTree {
    units: HashMap<UnitId, Unit>,
    children: HashMap<UnitId, Vec<UnitId>>,
}

impl UnitTree {
    pub fn new(units: impl IntoIterator<Item = Unit>) -> Self {
        let mut tree = Self::default();
        for unit in units {
            tree.insert(unit);
        }
        tree
    }

    pub fn insert(&mut self, unit: Unit) {
        if let Some(parent) = &unit.parent_id {
            self.children
                .entry(parent.clone())
                .or_default()
                .push(unit.id.clone());
        }
        self.units.insert(unit.id.clone(), unit);
    }

    pub fn get(&self, id: &UnitId) -> Option<&Unit> {
        self.units.get(id)
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Every unit, in no particular order.
    pub fn all(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    pub fn children(&self, id: &UnitId) -> &[UnitId] {
        self.children.get(id).map_or(&[], Vec::as_slice)
    }

    /// True when `ancestor` is `unit` itself or lies on the path from `unit` to its root.
    pub fn is_within(&self, unit: &UnitId, ancestor: &UnitId) -> bool {
        let mut current = Some(unit);
        // The depth bound guards against a cycle in corrupted data.
        for _ in 0..=self.units.len() {
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
        for _ in 0..=self.units.len() {
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
                stack.extend(self.children(id).iter().rev());
            }
        }
        out
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
}
