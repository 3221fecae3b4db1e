//! The facts of a round's briefing: each score's change since the compared round judged against
//! its margin of error (DOMAIN.md, "Changes between rounds and the margin of error"), and the
//! selections a briefing names (the indicator that rose or fell most).
//!
//! A briefing is read aloud at meetings; a change smaller than its margin of error must never
//! read as a rise or a fall, so every change carries its verdict and both sample sizes.

use super::headline::Headline;
use super::ids::Code;
use super::scoring::IndicatorScore;
use super::stats::Change;

/// One round's headline figure of a score: the value ranked and reported (the weighted estimate
/// in a weighted campaign), its standard error and the sample it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    /// Absent below two observations: such a change has no known margin.
    pub standard_error: Option<f64>,
    /// Valid answers (an indicator) or submissions (a composite).
    pub sample_size: i64,
}

impl Estimate {
    /// The composite of `score`: the weighted one in a weighted campaign, with the conservative
    /// standard error bound.
    pub fn composite(score: &Headline, weighted: bool) -> Option<Self> {
        let (value, uncertainty, sample_size) = if weighted {
            (
                score.weighted_composite?,
                score.weighted_composite_uncertainty,
                score.weighted_submissions,
            )
        } else {
            (
                score.composite?,
                score.composite_uncertainty,
                score.submissions,
            )
        };
        Some(Self {
            value,
            standard_error: uncertainty.map(|u| u.standard_error),
            sample_size,
        })
    }

    /// One indicator's score: the weighted estimate in a weighted campaign.
    pub fn indicator(score: &IndicatorScore, weighted: bool) -> Option<Self> {
        let (value, standard_error) = if weighted {
            let w = score.weighted.as_ref()?;
            (w.mean, w.standard_error)
        } else {
            (score.mean?, score.standard_error)
        };
        Some(Self {
            value,
            standard_error,
            sample_size: score.moments.valid,
        })
    }
}

/// How a change reads: only a change at least its margin of error is a rise or a fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Rise,
    Fall,
    /// `|Δ| < 1.96 · SE_Δ`, or the margin is unknown (a round with a single answer).
    WithinMargin,
}

/// A score's change from the compared round to this one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreChange {
    pub before: Estimate,
    pub after: Estimate,
    /// `after − before`.
    pub delta: f64,
    /// `1.96 · sqrt(SE₁² + SE₂²)`; absent when either round lacks a standard error.
    pub margin: Option<f64>,
    /// `|Δ| ≥ margin`; false when the margin is unknown, which cannot show a real change.
    pub beyond_margin: bool,
}

impl ScoreChange {
    /// The change between two independent rounds' estimates.
    pub fn between(before: Estimate, after: Estimate) -> Self {
        let judged = before
            .standard_error
            .zip(after.standard_error)
            .map(|(b, a)| Change::between((before.value, b), (after.value, a)));
        Self {
            before,
            after,
            delta: after.value - before.value,
            margin: judged.map(|c| c.margin),
            beyond_margin: judged.is_some_and(|c| c.is_beyond_margin()),
        }
    }

    /// The change of two optional estimates: absent unless both rounds have one.
    pub fn of(before: Option<Estimate>, after: Option<Estimate>) -> Option<Self> {
        Some(Self::between(before?, after?))
    }

    pub fn verdict(&self) -> Verdict {
        match (self.beyond_margin, self.delta > 0.0) {
            (false, _) => Verdict::WithinMargin,
            (true, true) => Verdict::Rise,
            (true, false) => Verdict::Fall,
        }
    }
}

/// The indicator whose score rose most (`Rise`) or fell most (`Fall`) among those whose change
/// is beyond its margin; `None` when none is. Ties go to the first in questionnaire order.
pub fn biggest<'a>(
    changes: impl IntoIterator<Item = (&'a Code, Option<&'a ScoreChange>)>,
    direction: Verdict,
) -> Option<&'a Code> {
    let mut best: Option<(&Code, f64)> = None;
    for (code, change) in changes {
        let Some(change) = change.filter(|c| c.verdict() == direction) else {
            continue;
        };
        let size = change.delta.abs();
        if best.is_none_or(|(_, b)| size > b) {
            best = Some((code, size));
        }
    }
    best.map(|(code, _)| code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::{
        Moments, Uncertainty, conservative_composite_uncertainty, t_quantile_975,
    };
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    fn estimate(value: f64, se: f64, n: i64) -> Estimate {
        Estimate {
            value,
            standard_error: Some(se),
            sample_size: n,
        }
    }

    #[test]
    fn the_worked_example_is_within_its_margin() {
        let change = ScoreChange::between(estimate(73.57, 1.20, 400), estimate(76.09, 1.10, 420));
        assert!(close(change.delta, 2.52));
        assert!(close(change.margin.unwrap(), 3.1906));
        assert!(!change.beyond_margin);
        assert_eq!(change.verdict(), Verdict::WithinMargin);
        assert_eq!(change.before.sample_size, 400);
        assert_eq!(change.after.sample_size, 420);
    }

    #[test]
    fn the_same_change_with_smaller_errors_is_a_rise_and_reversed_a_fall() {
        let rise = ScoreChange::between(estimate(73.57, 0.80, 900), estimate(76.09, 0.75, 950));
        assert!(close(rise.margin.unwrap(), 2.1493));
        assert_eq!(rise.verdict(), Verdict::Rise);
        let fall = ScoreChange::between(estimate(76.09, 0.75, 950), estimate(73.57, 0.80, 900));
        assert_eq!(fall.verdict(), Verdict::Fall);
    }

    #[test]
    fn a_change_without_a_known_margin_is_never_a_rise() {
        let single = Estimate {
            value: 100.0,
            standard_error: None,
            sample_size: 1,
        };
        let change = ScoreChange::between(estimate(50.0, 1.0, 100), single);
        assert_eq!(change.margin, None);
        assert_eq!(change.verdict(), Verdict::WithinMargin);
        assert_eq!(ScoreChange::of(None, Some(single)), None);
    }

    #[test]
    fn the_composite_margin_uses_the_conservative_bound() {
        // DOMAIN.md: weights 10, 10, 4 with SEs 1.2, 1.5, 2.0 -> SE_c bound 1.4583.
        let indicator = |weight: f64, se: f64| {
            let half = t_quantile_975(99) * se;
            let u = Uncertainty {
                standard_error: se,
                confidence_interval: (70.0 - half, 70.0 + half),
            };
            (weight, Some(70.0), Some(u))
        };
        let bound = conservative_composite_uncertainty([
            indicator(10.0, 1.2),
            indicator(10.0, 1.5),
            indicator(4.0, 2.0),
        ])
        .unwrap();
        assert!(close(bound.standard_error, 1.4583));
        let before = estimate(70.0, bound.standard_error, 100);
        let change = ScoreChange::between(before, estimate(74.0, bound.standard_error, 100));
        let margin = 1.96 * (2.0f64).sqrt() * bound.standard_error;
        assert!(close(change.margin.unwrap(), margin));
        assert_eq!(change.verdict(), Verdict::WithinMargin);
    }

    #[test]
    fn estimates_come_from_the_reported_figures() {
        let moments = Moments::from_points(&[100, 80, 80, 60, 100, 40, 80, 100, 60, 80]);
        let score = IndicatorScore {
            code: Code::parse("safety").unwrap(),
            moments,
            mean: moments.mean(),
            standard_error: moments.standard_error(),
            confidence_interval: moments.confidence_interval_95(),
            weighted: None,
            weighted_strata: Vec::new(),
            top_three: None,
        };
        let e = Estimate::indicator(&score, false).unwrap();
        assert!(close(e.value, 78.0));
        assert!(close(e.standard_error.unwrap(), 6.2893));
        assert_eq!(e.sample_size, 10);
        assert_eq!(Estimate::indicator(&score, true), None);
    }

    #[test]
    fn the_biggest_rise_and_fall_skip_changes_within_the_margin() {
        let codes: Vec<Code> = ["a", "b", "c", "d"]
            .iter()
            .map(|c| Code::parse(c).unwrap())
            .collect();
        let changes = [
            Some(ScoreChange::between(
                estimate(70.0, 0.5, 100),
                estimate(72.0, 0.5, 100),
            )),
            // The largest move, but within its margin: not the biggest rise.
            Some(ScoreChange::between(
                estimate(70.0, 3.0, 100),
                estimate(75.0, 3.0, 100),
            )),
            Some(ScoreChange::between(
                estimate(70.0, 0.5, 100),
                estimate(66.0, 0.5, 100),
            )),
            None,
        ];
        let pairs = || codes.iter().zip(changes.iter().map(Option::as_ref));
        assert_eq!(biggest(pairs(), Verdict::Rise), Some(&codes[0]));
        assert_eq!(biggest(pairs(), Verdict::Fall), Some(&codes[2]));
        let none: [(&Code, Option<&ScoreChange>); 0] = [];
        assert_eq!(biggest(none, Verdict::Rise), None);
    }

    proptest! {
        #[test]
        fn a_rise_or_fall_is_always_at_least_its_margin(
            before in 0.0f64..100.0, after in 0.0f64..100.0,
            se1 in 0.01f64..10.0, se2 in 0.01f64..10.0,
        ) {
            let change = ScoreChange::between(estimate(before, se1, 50), estimate(after, se2, 50));
            let margin = 1.96 * (se1 * se1 + se2 * se2).sqrt();
            prop_assert!((change.margin.unwrap() - margin).abs() < 1e-9);
            match change.verdict() {
                Verdict::Rise => prop_assert!(change.delta >= margin - 1e-9 && change.delta > 0.0),
                Verdict::Fall => prop_assert!(-change.delta >= margin - 1e-9),
                Verdict::WithinMargin => prop_assert!(change.delta.abs() < margin + 1e-9),
            }
        }
    }
}
