//! From pooled figures to unit scores: indicator means and intervals, the share satisfied,
//! weighted estimates, and breakdowns by channel and carrier.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::campaign::Campaign;
use super::cells::{CellKey, Figures, Totals};
use super::channel::{Carrier, Channel};
use super::headline::{Headline, HeadlineMemo};
use super::ids::{Code, UnitId};
use super::questionnaire::Questionnaire;
use super::rollup::RolledUp;
use super::stats::{Moments, Uncertainty, composite_score, conservative_composite_uncertainty};
use super::unit::Unit;
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
    /// The strata the weighted estimates draw on, each with its valid answers to this
    /// indicator; empty when the campaign is unweighted.
    pub weighted_strata: Vec<StratumWeight>,
    /// Absent for indicators with three or fewer scored options.
    pub top_three: Option<TopThreeShare>,
}

/// A weighting stratum (respondents who share a level on every margin, and so a weight) as
/// one set of figures used it.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumWeight {
    /// (margin dimension, level), one per margin in the weighting's order; shared by every
    /// estimate of a unit.
    pub levels: Arc<[(String, String)]>,
    /// The weight each respondent of the stratum carries.
    pub weight: f64,
    /// The stratum's submissions (a unit's strata) or valid answers (an indicator's).
    pub count: i64,
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
    /// The composite's conservative standard error and interval (see
    /// [`conservative_composite_uncertainty`]).
    pub composite_uncertainty: Option<Uncertainty>,
    /// In questionnaire order.
    pub indicators: Vec<IndicatorScore>,
    pub sufficient_sample: bool,
    pub breakdowns: Vec<Breakdown>,
    /// Present for weighted campaigns with at least one weighted valid answer.
    pub weighted_composite: Option<f64>,
    /// The same bound over the indicators' weighted estimates.
    pub weighted_composite_uncertainty: Option<Uncertainty>,
    pub weighted_submissions: i64,
    pub effective_sample_size: Option<f64>,
    /// The strata that got a weight, each with its submissions; empty when unweighted.
    pub weighting_strata: Vec<StratumWeight>,
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
                weighted_strata: Vec::new(),
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

/// The composite's conservative uncertainty from each indicator's (score, uncertainty).
fn composite_uncertainty_of(
    questionnaire: &Questionnaire,
    estimates: impl Iterator<Item = (Option<f64>, Option<Uncertainty>)>,
) -> Option<Uncertainty> {
    conservative_composite_uncertainty(
        questionnaire
            .indicators
            .iter()
            .zip(estimates)
            .map(|(i, (score, uncertainty))| (i.weight, score, uncertainty)),
    )
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

/// A unit's weighted headline figures.
#[derive(Default)]
struct WeightedHeadline {
    composite: Option<f64>,
    composite_uncertainty: Option<Uncertainty>,
    submissions: i64,
    effective_sample_size: Option<f64>,
    strata: Vec<StratumWeight>,
}

/// Weighted estimates: weights per weighting cell from submission counts, then each
/// indicator's weighted mean over the cells' moments.
fn apply_weighting(
    weighting: &Weighting,
    questionnaire: &Questionnaire,
    totals: &Totals,
    indicators: &mut [IndicatorScore],
) -> WeightedHeadline {
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
    let strata: Vec<StratumWeight> = weights
        .iter()
        .map(|(cell, w)| StratumWeight {
            levels: weighting
                .margins
                .iter()
                .map(|m| m.dimension.clone())
                .zip(cell.iter().cloned())
                .collect(),
            weight: *w,
            count: cells[cell].submissions,
        })
        .collect();
    for (position, score) in indicators.iter_mut().enumerate() {
        let mut per_cell: Vec<(f64, Moments)> = Vec::with_capacity(weights.len());
        for ((cell, w), stratum) in weights.iter().zip(&strata) {
            let Some(moments) = cells[cell].answered(position) else {
                continue;
            };
            per_cell.push((*w, moments));
            if moments.valid > 0 {
                score.weighted_strata.push(StratumWeight {
                    count: moments.valid,
                    ..stratum.clone()
                });
            }
        }
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
    let composite_uncertainty = composite_uncertainty_of(
        questionnaire,
        indicators.iter().map(|i| {
            let w = i.weighted.as_ref();
            (
                w.map(|w| w.mean),
                w.and_then(|w| Uncertainty::of(w.standard_error, w.confidence_interval)),
            )
        }),
    );
    WeightedHeadline {
        composite,
        composite_uncertainty,
        submissions: weighted_submissions,
        effective_sample_size: effective,
        strata,
    }
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
    let composite_uncertainty = composite_uncertainty_of(
        questionnaire,
        indicators.iter().map(|i| {
            (
                i.mean,
                Uncertainty::of(i.standard_error, i.confidence_interval),
            )
        }),
    );
    let weighted = match &campaign.weighting {
        Some(weighting) => apply_weighting(weighting, questionnaire, totals, &mut indicators),
        None => WeightedHeadline::default(),
    };
    UnitScore {
        unit_id: unit.id.clone(),
        unit_name: unit.name.clone(),
        submissions: all.submissions,
        composite,
        composite_uncertainty,
        indicators,
        sufficient_sample: all.submissions >= i64::from(campaign.min_sample),
        breakdowns: Vec::new(),
        weighted_composite: weighted.composite,
        weighted_composite_uncertainty: weighted.composite_uncertainty,
        weighted_submissions: weighted.submissions,
        effective_sample_size: weighted.effective_sample_size,
        weighting_strata: weighted.strata,
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
    /// Rolled up over the tree the units are scored on.
    pub stats: &'a RolledUp,
    /// Headlines kept from earlier rankings of these very figures, if any.
    pub memo: Option<&'a HeadlineMemo>,
}

impl ScoringContext<'_> {
    pub fn score(&self, unit: &Unit) -> UnitScore {
        score_unit(
            self.campaign,
            self.questionnaire,
            unit,
            self.stats.totals(&unit.id),
        )
    }

    /// What a ranking reads of `unit`'s score.
    pub(super) fn headline(&self, unit: &Unit) -> Headline {
        Headline::of(&headline_score(
            self.campaign,
            self.questionnaire,
            unit,
            self.stats.totals(&unit.id),
        ))
    }

    /// The headline of each of `units`, from the memo where their figures have not changed.
    pub(super) fn headlines(&self, units: &[&Unit]) -> Vec<Arc<Headline>> {
        match self.memo {
            Some(memo) => memo.headlines(units, self.stats, |u| self.headline(u)),
            None => units.iter().map(|u| Arc::new(self.headline(u))).collect(),
        }
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
    use crate::domain::stats::t_quantile_975;
    use crate::domain::weighting::{Margin, Method};

    fn visit_cell() -> CellKey {
        CellKey {
            channel: Channel::Visit,
            carrier: None,
            stratum: Stratum::default(),
        }
    }

    fn phone_cell(carrier: Carrier) -> CellKey {
        CellKey {
            channel: Channel::Phone,
            carrier: Some(carrier),
            stratum: Stratum::default(),
        }
    }

    fn totals(cells: impl IntoIterator<Item = (CellKey, i64, Vec<Moments>)>) -> Totals {
        Totals {
            cells: cells
                .into_iter()
                .map(|(key, submissions, indicators)| {
                    (
                        key,
                        Figures {
                            submissions,
                            indicators,
                        },
                    )
                })
                .collect(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    #[test]
    fn the_composite_carries_the_conservative_bound_of_its_indicators() {
        let mut q = Questionnaire::for_tests(&["security", "police", "visits", "unasked"]);
        for (indicator, weight) in q.indicators.iter_mut().zip([10.0, 10.0, 4.0, 4.0]) {
            indicator.weight = weight;
        }
        let security = Moments::from_points(&[100, 80, 80, 60, 100, 40, 80, 100, 60, 80]);
        let police = Moments::from_points(&[100, 50, 80, 20]);
        let visits = Moments::from_points(&[100, 0, 100]);
        let campaign = Campaign::for_tests("c", &q.id, "u1");
        let unit = Unit::for_tests("u1");
        let score = score_unit(
            &campaign,
            &q,
            &unit,
            &totals([(visit_cell(), 10, vec![security, police, visits])]),
        );
        // "unasked" has no answers: it is in neither the composite nor its bound.
        let parts = [(10.0, security), (10.0, police), (4.0, visits)];
        let se = parts
            .iter()
            .map(|(w, m)| w * m.standard_error().unwrap())
            .sum::<f64>()
            / 24.0;
        let half = parts
            .iter()
            .map(|(w, m)| w * t_quantile_975(m.valid - 1) * m.standard_error().unwrap())
            .sum::<f64>()
            / 24.0;
        let composite = score.composite.unwrap();
        let bound = score.composite_uncertainty.unwrap();
        assert!((bound.standard_error - se).abs() < 1e-12, "{bound:?}");
        let (lower, upper) = bound.confidence_interval;
        assert!((lower - (composite - half)).abs() < 1e-9);
        assert!((upper - (composite + half)).abs() < 1e-9);
        assert_eq!(score.weighted_composite_uncertainty, None, "unweighted");

        // One valid answer to an indicator of the composite: no standard error, so no bound.
        let single = score_unit(
            &campaign,
            &q,
            &unit,
            &totals([(
                visit_cell(),
                10,
                vec![security, Moments::from_points(&[80])],
            )]),
        );
        assert!(single.composite.is_some());
        assert_eq!(single.composite_uncertainty, None);
    }

    #[test]
    fn weighted_figures_name_each_stratums_weight_and_count() {
        let q = Questionnaire::for_tests(&["overall"]);
        let mut campaign = Campaign::for_tests("c", &q.id, "u1");
        let total = 658_000.0;
        campaign.weighting = Some(Weighting {
            method: Method::PostStratification,
            margins: vec![Margin {
                dimension: "carrier".into(),
                shares: [
                    ("CARRIER_CHINA_TELECOM", 58_000.0),
                    ("CARRIER_CHINA_MOBILE", 360_000.0),
                    ("CARRIER_CHINA_UNICOM", 240_000.0),
                ]
                .into_iter()
                .map(|(level, count)| (level.to_string(), count / total))
                .collect(),
            }],
        });
        // DOMAIN.md's 400 polls at 70 / 80 / 75, two "don't know" among China Unicom's, and a
        // visit, which has no carrier and so no weight.
        let at = |n: usize, points: u8| Moments::from_points(&vec![points; n]);
        let mut unicom = at(138, 75);
        unicom += Moments::of_answer(None, false);
        unicom += Moments::of_answer(None, false);
        let score = score_unit(
            &campaign,
            &q,
            &Unit::for_tests("u1"),
            &totals([
                (phone_cell(Carrier::ChinaTelecom), 60, vec![at(60, 70)]),
                (phone_cell(Carrier::ChinaMobile), 200, vec![at(200, 80)]),
                (phone_cell(Carrier::ChinaUnicom), 140, vec![unicom]),
                (visit_cell(), 1, vec![at(1, 100)]),
            ]),
        );
        let strata: Vec<(String, f64, i64)> = score
            .weighting_strata
            .iter()
            .map(|s| {
                assert_eq!(s.levels.len(), 1);
                assert_eq!(s.levels[0].0, "carrier");
                (s.levels[0].1.clone(), s.weight, s.count)
            })
            .collect();
        let expected = [
            ("CARRIER_CHINA_MOBILE", 1.0942, 200),
            ("CARRIER_CHINA_TELECOM", 0.5876, 60),
            ("CARRIER_CHINA_UNICOM", 1.0421, 140),
        ];
        assert_eq!(strata.len(), expected.len());
        for ((level, weight, count), (l, w, n)) in strata.iter().zip(expected) {
            assert_eq!((level.as_str(), *count), (l, n));
            assert!(close(*weight, w), "{level}: {weight}");
        }
        assert_eq!(score.weighted_submissions, 400);

        // The indicator's strata count its valid answers: Unicom's two "don't know" drop out.
        let overall = &score.indicators[0];
        let counts: Vec<i64> = overall.weighted_strata.iter().map(|s| s.count).collect();
        assert_eq!(counts, [200, 60, 138]);
        let weights: Vec<f64> = overall.weighted_strata.iter().map(|s| s.weight).collect();
        let unit_weights: Vec<f64> = score.weighting_strata.iter().map(|s| s.weight).collect();
        assert_eq!(weights, unit_weights);

        // One indicator: the weighted composite's bound is its weighted estimate's uncertainty.
        let weighted = overall.weighted.unwrap();
        let bound = score.weighted_composite_uncertainty.unwrap();
        assert_eq!(Some(bound.standard_error), weighted.standard_error);
        assert_eq!(
            Some(bound.confidence_interval),
            weighted.confidence_interval
        );
    }

    #[test]
    fn stored_positions_are_read_as_the_questionnaires_indicators() {
        let q = Questionnaire::for_tests(&["security", "theft", "police"]);
        let answered = Moments::of_answer(Some(80), true);
        let score = score_unit(
            &Campaign::for_tests("c", &q.id, "u1"),
            &q,
            &Unit::for_tests("u1"),
            &totals([(visit_cell(), 1, vec![answered, Moments::default()])]),
        );
        let codes: Vec<&str> = score.indicators.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["security", "theft", "police"]);
        assert_eq!(score.indicators[0].moments, answered);
        assert_eq!(score.indicators[0].mean, Some(80.0));
        assert_eq!(score.indicators[1].mean, None);
    }
}
