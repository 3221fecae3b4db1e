//! What rankings read of a unit's score, and the memo that keeps it between changes.
//!
//! A full [`UnitScore`] carries every indicator's moments, intervals, weighted estimates and
//! top-three shares (kilobytes a unit). A ranking needs far less: who the unit is, its sample,
//! and each value it may be ranked on. A [`Headline`] is that, about a tenth of the size, so a
//! province's 25,000 villages fit in memory in both compared rounds.
//!
//! The [`HeadlineMemo`] keeps each unit's headline with the change number of the figures it was
//! computed from (see [`RolledUp::changed_at`]): after a batch of visits only the units it
//! touched (a village and its ancestors) are scored again, not every peer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ids::UnitId;
use super::rollup::RolledUp;
use super::scoring::UnitScore;
use super::stats::Uncertainty;
use super::unit::Unit;

/// A unit's rankable values: the composite and each indicator's mean, weighted and not.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    pub unit_id: UnitId,
    pub unit_name: String,
    pub submissions: i64,
    pub sufficient_sample: bool,
    pub composite: Option<f64>,
    pub composite_uncertainty: Option<Uncertainty>,
    pub weighted_composite: Option<f64>,
    pub weighted_composite_uncertainty: Option<Uncertainty>,
    pub weighted_submissions: i64,
    /// In questionnaire order.
    pub indicators: Box<[IndicatorMeans]>,
}

/// One indicator's mean, and its weighted estimate in a weighted campaign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorMeans {
    pub mean: Option<f64>,
    pub weighted: Option<f64>,
}

impl Headline {
    pub fn of(score: &UnitScore) -> Self {
        Self {
            unit_id: score.unit_id.clone(),
            unit_name: score.unit_name.clone(),
            submissions: score.submissions,
            sufficient_sample: score.sufficient_sample,
            composite: score.composite,
            composite_uncertainty: score.composite_uncertainty,
            weighted_composite: score.weighted_composite,
            weighted_composite_uncertainty: score.weighted_composite_uncertainty,
            weighted_submissions: score.weighted_submissions,
            indicators: score
                .indicators
                .iter()
                .map(|i| IndicatorMeans {
                    mean: i.mean,
                    weighted: i.weighted.as_ref().map(|w| w.mean),
                })
                .collect(),
        }
    }

    /// The interval of the composite a ranking orders by: the weighted one when there is one.
    pub fn ranked_interval(&self) -> Option<(f64, f64)> {
        let uncertainty = if self.weighted_composite.is_some() {
            self.weighted_composite_uncertainty.as_ref()
        } else {
            self.composite_uncertainty.as_ref()
        };
        uncertainty.map(|u| u.confidence_interval)
    }
}

/// Headlines of one campaign's units, each kept with the change number of the figures it was
/// computed from. It must be dropped with the figures, or whenever the campaign, its
/// questionnaire or its units change, since the headlines depend on them too.
#[derive(Debug, Default)]
pub struct HeadlineMemo {
    kept: Mutex<HashMap<UnitId, (u64, Arc<Headline>)>>,
}

impl HeadlineMemo {
    /// The headline of each of `units` over `stats`: the kept one when its figures have not
    /// changed since, else `compute`d and kept.
    pub fn headlines(
        &self,
        units: &[&Unit],
        stats: &RolledUp,
        compute: impl Fn(&Unit) -> Headline,
    ) -> Vec<Arc<Headline>> {
        let mut kept = self
            .kept
            .lock()
            .expect("the headline memo is never poisoned: scoring does not panic");
        units
            .iter()
            .map(|unit| {
                let change = stats.changed_at(&unit.id);
                match kept.get(&unit.id) {
                    Some((at, headline)) if *at == change => headline.clone(),
                    _ => {
                        let headline = Arc::new(compute(unit));
                        kept.insert(unit.id.clone(), (change, headline.clone()));
                        headline
                    }
                }
            })
            .collect()
    }

    /// Units whose headline is kept, for tests.
    pub fn len(&self) -> usize {
        self.kept
            .lock()
            .expect("the headline memo is never poisoned: scoring does not panic")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
