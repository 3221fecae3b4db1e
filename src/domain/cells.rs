//! The cells a unit's submissions are counted in (channel, carrier, stratum) and the figures
//! each cell holds: the sufficient statistics that scores are computed from.

use std::collections::BTreeMap;

use super::channel::{Carrier, Channel};
use super::ids::UnitId;
use super::stats::Moments;

/// The slice of a unit's submissions one stored row covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub channel: Channel,
    /// Phone polls only.
    pub carrier: Option<Carrier>,
    /// The respondent attributes the campaign weights by (see [`Stratum`]); empty otherwise.
    pub stratum: Stratum,
}

/// Respondent attributes relevant to a campaign's weighting, in a canonical text form so they
/// can be part of a database key. Empty when the campaign weights by none.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stratum(String);

impl Stratum {
    pub fn new(attributes: &BTreeMap<String, String>) -> Self {
        if attributes.is_empty() {
            Self::default()
        } else {
            Self(serde_json::to_string(attributes).expect("a string map always serialises"))
        }
    }

    /// Reads a stored stratum; anything unreadable counts as "no attributes".
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn attribute(&self, name: &str) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let map: BTreeMap<String, String> = serde_json::from_str(&self.0).ok()?;
        map.get(name).cloned()
    }
}

/// The pooled figures of a set of submissions: what one aggregate row holds, what a batch adds
/// to it, or what a unit's cells sum to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub submissions: i64,
    /// By questionnaire position (a ranking pools these for every unit, so no map keyed by
    /// code); positions past the end, like zeros, mean nobody answered.
    pub indicators: Vec<Moments>,
}

impl Figures {
    /// Adds `other` position by position; the shorter list counts as zeros beyond its end.
    pub fn add(&mut self, other: &Figures) {
        self.submissions += other.submissions;
        if self.indicators.len() < other.indicators.len() {
            self.indicators
                .resize(other.indicators.len(), Moments::default());
        }
        for (mine, theirs) in self.indicators.iter_mut().zip(&other.indicators) {
            *mine += *theirs;
        }
    }

    /// Adds one answer's moments to the indicator at `position`.
    pub fn add_answer(&mut self, position: usize, moments: Moments) {
        if self.indicators.len() <= position {
            self.indicators.resize(position + 1, Moments::default());
        }
        self.indicators[position] += moments;
    }

    /// The figures of the indicator at `position`; `None` when nobody answered it.
    pub fn answered(&self, position: usize) -> Option<Moments> {
        self.indicators
            .get(position)
            .copied()
            .filter(|m| *m != Moments::default())
    }
}

/// One stored aggregate row: a unit's own accepted submissions in one cell (trailing
/// indicators nobody answered may be missing from its figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellRow {
    pub unit_id: UnitId,
    pub cell: CellKey,
    pub figures: Figures,
}

/// A unit's (or a subtree's) figures, cell by cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub cells: BTreeMap<CellKey, Figures>,
}

impl Totals {
    /// Adds `other` cell by cell.
    pub fn add(&mut self, other: &Totals) {
        for (key, figures) in &other.cells {
            self.cells.entry(key.clone()).or_default().add(figures);
        }
    }

    /// The figures of the cells `include` accepts, pooled.
    pub fn pooled(&self, include: impl Fn(&CellKey) -> bool) -> Figures {
        let mut pooled = Figures::default();
        for (_, figures) in self.cells.iter().filter(|(k, _)| include(k)) {
            pooled.add(figures);
        }
        pooled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(valid: i64, excluded: i64, sum: i64, sum_sq: i64) -> Moments {
        Moments::sums(valid, excluded, sum, sum_sq)
    }

    #[test]
    fn figures_add_position_by_position_and_pad_the_shorter() {
        let mut stored = Figures {
            submissions: 2,
            indicators: vec![moments(2, 0, 160, 12800)],
        };
        let delta = Figures {
            submissions: 1,
            indicators: vec![moments(1, 0, 60, 3600), moments(0, 1, 0, 0)],
        };
        stored.add(&delta);
        assert_eq!(stored.submissions, 3);
        assert_eq!(
            stored.indicators,
            vec![moments(3, 0, 220, 16400), moments(0, 1, 0, 0)]
        );
    }
}
