//! From pooled figures to unit scores: indicator means and intervals, the share satisfied,
//! weighted estimates, and breakdowns by channel and carrier.

use std::collections::BTreeMap;

use super::campaign::Campaign;
use super::cells::{CellKey, Figures, Totals};
use super::channel::{Carrier, Channel};
use super::ids::{Code, UnitId};
use super::pooling::CampaignStats;
use super::questionnaire::Questionnaire;
use super::stats::{Moments, composite_score};
use super::unit::{Unit, UnitTree};
use super::weighting::{Cell, WeightedEstimate, Weighting, cell_weights, kish, weighted_mean};

/// One indicator of a unit: its moments, mean and interval, weighted estimate and share
/// satisfied.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorScore {
    pub code: Code,
    pub moments: Moments,
    pub mean: Option<f64>,
    pub standard_error: Option<f64>,
    pub confidence_interval: Option<(f64, f64)>,
    pub weighted: Option<WeightedEstimate>,
    /// Absent for indicators with three or fewer scored options.
    pub top_three: Option<TopThreeShare>,
}

/// The share of valid answers that chose one of the indicator's top three options (DOMAIN.md:
/// the share satisfied), with its Wilson interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TopThreeShare {
    pub count: i64,
    pub share: Option<f64>,
    pub interval: Option<(f64, f64)>,
    pub weighted: Option<WeightedEstimate>,
}

/// The figures of one channel (and carrier) of a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub submissions: i64,
    pub composite: Option<f64>,
    pub indicators: Vec<IndicatorScore>,
}

/// A unit's figures over its whole subtree.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitScore {
    pub unit_id: UnitId,
    pub unit_name: String,
    pub submissions: i64,
    pub composite: Option<f64>,
    /// In questionnaire order.
    pub indicators: Vec<IndicatorScore>,
    pub sufficient_sample: bool,
    pub breakdowns: Vec<Breakdown>,
    /// Present for weighted campaigns with at least one weighted valid answer.
    pub weighted_composite: Option<f64>,
    pub weighted_submissions: i64,
    pub effective_sample_size: Option<f64>,
}

fn indicator_scores(questionnaire: &Questionnaire, figures: &Figures) -> Vec<IndicatorScore> {
    questionnaire
        .indicators
        .iter()
        .enumerate()
        .map(|(position, indicator)| {
            let moments = figures.answered(position).unwrap_or_default();
            IndicatorScore {
                code: indicator.code.clone(),
                moments,
                mean: moments.mean(),
                standard_error: moments.standard_error(),
                confidence_interval: moments.confidence_interval_95(),
                weighted: None,
                top_three: indicator.top_three_floor().map(|_| TopThreeShare {
                    count: moments.top_three,
                    share: moments.top_three_share(),
                    interval: moments.top_three_interval(),
                    weighted: None,
                }),
            }
        })
        .collect()
}

fn composite_of(
    questionnaire: &Questionnaire,
    means: impl Iterator<Item = Option<f64>>,
) -> Option<f64> {
    composite_score(questionnaire.indicators.iter().map(|i| i.weight).zip(means))
}

/// The levels of a cell on the weighting's margins, or `None` when it lacks one.
fn weighting_cell(weighting: &Weighting, key: &CellKey) -> Option<Cell> {
    weighting
        .margins
        .iter()
        .map(|margin| match margin.dimension.as_str() {
            "carrier" => key.carrier.map(|c| c.name().to_owned()),
            "channel" => Some(key.channel.name().to_owned()),
            attribute => key.stratum.attribute(attribute),
        })
        .collect()
}

/// Weighted estimates: weights per weighting cell from submission counts, then each
/// indicator's weighted mean over the cells' moments.
fn apply_weighting(
    weighting: &Weighting,
    questionnaire: &Questionnaire,
    totals: &Totals,
    indicators: &mut [IndicatorScore],
) -> (Option<f64>, i64, Option<f64>) {
    let mut cells: BTreeMap<Cell, Figures> = BTreeMap::new();
    for (key, figures) in &totals.cells {
        if let Some(cell) = weighting_cell(weighting, key) {
            cells.entry(cell).or_default().add(figures);
        }
    }
    let counts: BTreeMap<Cell, f64> = cells
        .iter()
        .map(|(c, f)| (c.clone(), f.submissions as f64))
        .collect();
    let weights = cell_weights(weighting, &counts);
    let weighted_submissions: i64 = cells
        .iter()
        .filter(|(c, _)| weights.contains_key(*c))
        .map(|(_, f)| f.submissions)
        .sum();
    let effective = kish(weights.iter().map(|(c, w)| (*w, counts[c]))).map(|(n_eff, _)| n_eff);
    for (position, score) in indicators.iter_mut().enumerate() {
        let per_cell: Vec<(f64, Moments)> = weights
            .iter()
            .filter_map(|(c, w)| Some((*w, cells[c].answered(position)?)))
            .collect();
        score.weighted = weighted_mean(&per_cell);
        if let Some(top_three) = &mut score.top_three {
            let chose: Vec<(f64, Moments)> = per_cell
                .iter()
                .map(|(w, m)| (*w, m.top_three_indicator()))
                .collect();
            top_three.weighted = weighted_mean(&chose);
        }
    }
    let composite = composite_of(
        questionnaire,
        indicators.iter().map(|i| i.weighted.map(|w| w.mean)),
    );
    (composite, weighted_submissions, effective)
}

/// Scores a unit from its pooled figures, with its breakdowns by channel and carrier.
pub fn score_unit(
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    unit: &Unit,
    totals: &Totals,
) -> UnitScore {
    UnitScore {
        breakdowns: breakdowns(questionnaire, totals),
        ..headline_score(campaign, questionnaire, unit, totals)
    }
}

/// A unit's figures without breakdowns: what a ranking compares.
fn headline_score(
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    unit: &Unit,
    totals: &Totals,
) -> UnitScore {
    let all = totals.pooled(|_| true);
    let mut indicators = indicator_scores(questionnaire, &all);
    let composite = composite_of(questionnaire, indicators.iter().map(|i| i.mean));
    let (weighted_composite, weighted_submissions, effective_sample_size) =
        match &campaign.weighting {
            Some(weighting) => apply_weighting(weighting, questionnaire, totals, &mut indicators),
            None => (None, 0, None),
        };
    UnitScore {
        unit_id: unit.id.clone(),
        unit_name: unit.name.clone(),
        submissions: all.submissions,
        composite,
        indicators,
        sufficient_sample: all.submissions >= i64::from(campaign.min_sample),
        breakdowns: Vec::new(),
        weighted_composite,
        weighted_submissions,
        effective_sample_size,
    }
}

/// Per channel, and per carrier within phone polls; slices without submissions are left out.
fn breakdowns(questionnaire: &Questionnaire, totals: &Totals) -> Vec<Breakdown> {
    let mut slices: Vec<(Channel, Option<Carrier>)> =
        vec![(Channel::Visit, None), (Channel::Phone, None)];
    slices.extend(Carrier::ALL.map(|c| (Channel::Phone, Some(c))));
    slices
        .into_iter()
        .filter_map(|(channel, carrier)| {
            let figures = totals
                .pooled(|k| k.channel == channel && (carrier.is_none() || k.carrier == carrier));
            (figures.submissions > 0).then(|| {
                let indicators = indicator_scores(questionnaire, &figures);
                Breakdown {
                    channel,
                    carrier,
                    submissions: figures.submissions,
                    composite: composite_of(questionnaire, indicators.iter().map(|i| i.mean)),
                    indicators,
                }
            })
        })
        .collect()
}

/// Everything needed to score one campaign (and to rank its units: see the ranking module).
pub struct ScoringContext<'a> {
    pub campaign: &'a Campaign,
    pub questionnaire: &'a Questionnaire,
    pub stats: &'a CampaignStats,
}

impl ScoringContext<'_> {
    pub fn score(&self, tree: &UnitTree, unit: &Unit) -> UnitScore {
        let totals = self.stats.rolled_up(tree, &unit.id);
        score_unit(self.campaign, self.questionnaire, unit, &totals)
    }

    /// `unit`'s score without breakdowns, which no ranking reads.
    pub(super) fn headline(&self, tree: &UnitTree, unit: &Unit) -> UnitScore {
        let totals = self.stats.rolled_up(tree, &unit.id);
        headline_score(self.campaign, self.questionnaire, unit, &totals)
    }

    /// Whether headline values are the weighted estimates.
    pub(super) fn is_weighted(&self) -> bool {
        self.campaign.weighting.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cells::Stratum;

    #[test]
    fn stored_positions_are_read_as_the_questionnaires_indicators() {
        let q = Questionnaire::for_tests(&["security", "theft", "police"]);
        let answered = Moments::of_answer(Some(80), true);
        let visits = CellKey {
            channel: Channel::Visit,
            carrier: None,
            stratum: Stratum::default(),
        };
        let figures = Figures {
            submissions: 1,
            indicators: vec![answered, Moments::default()],
        };
        let totals = Totals {
            cells: BTreeMap::from([(visits, figures)]),
        };
        let score = score_unit(
            &Campaign::for_tests("c", &q.id, "u1"),
            &q,
            &Unit::for_tests("u1"),
            &totals,
        );
        let codes: Vec<&str> = score.indicators.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["security", "theft", "police"]);
        assert_eq!(score.indicators[0].moments, answered);
        assert_eq!(score.indicators[0].mean, Some(80.0));
        assert_eq!(score.indicators[1].mean, None);
    }
}
