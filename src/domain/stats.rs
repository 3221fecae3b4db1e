//! Sufficient statistics of answer points and the estimates derived from them.
//!
//! Points are whole numbers from 0 to 100, so counts, sums and sums of squares are exact
//! integers: aggregates maintained incrementally equal a recomputation from raw answers bit for
//! bit, and every estimate below is a pure function of them.

use std::collections::HashMap;
use std::ops::AddAssign;
use std::sync::{LazyLock, Mutex, OnceLock};

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Count, sum and sum of squares of one indicator's points, the valid answers that chose one of
/// its top three options, and the answers that count in no score ("don't know", "refused").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moments {
    pub valid: i64,
    pub excluded: i64,
    pub sum: i64,
    pub sum_sq: i64,
    pub top_three: i64,
}

impl Moments {
    /// Moments with these sums and no top-three answers, for unit tests.
    #[cfg(test)]
    pub(crate) fn sums(valid: i64, excluded: i64, sum: i64, sum_sq: i64) -> Self {
        Self {
            valid,
            excluded,
            sum,
            sum_sq,
            top_three: 0,
        }
    }

    /// The contribution of one answer; `top_three` counts only for an answer with points.
    pub fn of_answer(points: Option<u8>, top_three: bool) -> Self {
        match points {
            Some(p) => {
                let p = i64::from(p);
                Self {
                    valid: 1,
                    excluded: 0,
                    sum: p,
                    sum_sq: p * p,
                    top_three: i64::from(top_three),
                }
            }
            None => Self {
                excluded: 1,
                ..Self::default()
            },
        }
    }

    pub fn from_points(points: &[u8]) -> Self {
        let mut m = Self::default();
        for &p in points {
            m += Self::of_answer(Some(p), false);
        }
        m
    }

    /// The same moments with the opposite sign: removing answers from an aggregate.
    pub fn negated(self) -> Self {
        Self {
            valid: -self.valid,
            excluded: -self.excluded,
            sum: -self.sum,
            sum_sq: -self.sum_sq,
            top_three: -self.top_three,
        }
    }

    /// Share of valid answers that chose a top-three option; absent without valid answers.
    pub fn top_three_share(&self) -> Option<f64> {
        (self.valid > 0).then(|| self.top_three as f64 / self.valid as f64)
    }

    /// Wilson 95% interval of [`Self::top_three_share`].
    pub fn top_three_interval(&self) -> Option<(f64, f64)> {
        wilson_interval(
            u64::try_from(self.top_three).ok()?,
            u64::try_from(self.valid).ok()?,
        )
    }

    /// "Chose a top-three option" as an answer worth 1 or 0: its moments, so that weighted
    /// estimates of the share come from the same arithmetic as weighted scores.
    pub fn top_three_indicator(&self) -> Self {
        Self {
            valid: self.valid,
            excluded: self.excluded,
            sum: self.top_three,
            sum_sq: self.top_three,
            top_three: 0,
        }
    }

    pub fn mean(&self) -> Option<f64> {
        (self.valid > 0).then(|| self.sum as f64 / self.valid as f64)
    }

    /// Sample variance (n - 1 denominator), computed exactly in integers before dividing.
    pub fn variance(&self) -> Option<f64> {
        if self.valid < 2 {
            return None;
        }
        let n = i128::from(self.valid);
        let numerator = n * i128::from(self.sum_sq) - i128::from(self.sum).pow(2);
        Some(numerator as f64 / (n * (n - 1)) as f64)
    }

    pub fn standard_error(&self) -> Option<f64> {
        self.variance().map(|v| (v / self.valid as f64).sqrt())
    }

    /// `mean ± t(0.975, n-1) · s/√n`; absent with fewer than two valid answers.
    pub fn confidence_interval_95(&self) -> Option<(f64, f64)> {
        let mean = self.mean()?;
        let se = self.standard_error()?;
        let half_width = t_quantile_975(self.valid - 1) * se;
        Some((mean - half_width, mean + half_width))
    }
}

impl AddAssign for Moments {
    fn add_assign(&mut self, other: Self) {
        self.valid += other.valid;
        self.excluded += other.excluded;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.top_three += other.top_three;
    }
}

/// The 97.5th percentile of Student's t with `degrees_of_freedom` (>= 1).
///
/// Remembered for the degrees of freedom most units have: a ranking asks for one per unit and
/// indicator (~12,000 for 1,000 villages), and each costs ~2 µs to compute. Larger ones (a
/// county's or a province's, tens of thousands) are remembered too, up to a bound: one score of
/// such a unit asks for some seventy, the same ones until its figures change.
pub fn t_quantile_975(degrees_of_freedom: i64) -> f64 {
    static REMEMBERED: [OnceLock<f64>; 4096] = [const { OnceLock::new() }; 4096];
    static LARGE: LazyLock<Mutex<HashMap<i64, f64>>> = LazyLock::new(Mutex::default);
    const LARGE_CAPACITY: usize = 65_536;
    let exact = || {
        StudentsT::new(0.0, 1.0, degrees_of_freedom as f64)
            .expect("degrees of freedom are positive")
            .inverse_cdf(0.975)
    };
    if let Some(cell) = usize::try_from(degrees_of_freedom)
        .ok()
        .and_then(|df| REMEMBERED.get(df))
    {
        return *cell.get_or_init(exact);
    }
    let large = || {
        LARGE
            .lock()
            .expect("the quantile table is never poisoned: nothing panics holding it")
    };
    if let Some(&known) = large().get(&degrees_of_freedom) {
        return known;
    }
    // Computed outside the lock; two callers computing the same one store the same value.
    let value = exact();
    let mut remembered = large();
    if remembered.len() >= LARGE_CAPACITY {
        remembered.clear();
    }
    remembered.insert(degrees_of_freedom, value);
    value
}

/// Weighted mean of the indicator scores that exist: `sum(w_i * score_i) / sum(w_i)`.
pub fn composite_score(scores: impl IntoIterator<Item = (f64, Option<f64>)>) -> Option<f64> {
    let (weighted, weights) = scores
        .into_iter()
        .filter_map(|(weight, score)| score.map(|s| (weight * s, weight)))
        .fold((0.0, 0.0), |(a, b), (ws, w)| (a + ws, b + w));
    (weights > 0.0).then(|| weighted / weights)
}

/// A standard error and the 95% interval built on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uncertainty {
    pub standard_error: f64,
    pub confidence_interval: (f64, f64),
}

impl Uncertainty {
    /// Pairs an estimate's standard error with its interval; absent when either is.
    pub fn of(
        standard_error: Option<f64>,
        confidence_interval: Option<(f64, f64)>,
    ) -> Option<Self> {
        let (standard_error, confidence_interval) = standard_error.zip(confidence_interval)?;
        Some(Self {
            standard_error,
            confidence_interval,
        })
    }
}

/// The composite's conservative uncertainty, from `(weight, score, uncertainty)` of each
/// indicator: `SE_c ≤ Σ aᵢ·SEᵢ` with `aᵢ = wᵢ / Σw` over the indicators that count in the
/// composite (those with a score), and the interval `Σ aᵢ·[lowerᵢ, upperᵢ]`, i.e. the composite
/// ± `Σ aᵢ·t(0.975, nᵢ-1)·SEᵢ`.
///
/// The same respondents answer every indicator, so the indicators are correlated, and the
/// aggregates keep no cross-indicator sums to estimate the covariances with. By Cauchy–Schwarz
/// the weighted sum of the standard errors bounds the composite's from above, with equality
/// under perfect correlation. The interval averages the indicators' own intervals with the
/// composite's weights, so each keeps the t quantile of its own sample size.
///
/// Absent when no indicator counts, or when one that counts has no standard error (a single
/// valid answer): leaving its uncertainty out would claim a precision the data do not have.
pub fn conservative_composite_uncertainty(
    indicators: impl IntoIterator<Item = (f64, Option<f64>, Option<Uncertainty>)>,
) -> Option<Uncertainty> {
    let mut weights = 0.0;
    let (mut se, mut lower, mut upper) = (0.0, 0.0, 0.0);
    for (weight, score, uncertainty) in indicators {
        if score.is_none() {
            continue;
        }
        let u = uncertainty?;
        weights += weight;
        se += weight * u.standard_error;
        lower += weight * u.confidence_interval.0;
        upper += weight * u.confidence_interval.1;
    }
    (weights > 0.0).then(|| Uncertainty {
        standard_error: se / weights,
        confidence_interval: (lower / weights, upper / weights),
    })
}

/// The change of a score between two independent rounds, judged against its margin of error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// This round's score minus the compared round's.
    pub delta: f64,
    /// `1.96 · sqrt(SE₁² + SE₂²)`.
    pub margin: f64,
}

impl Change {
    /// The change from `before` to `after`, each a (score, standard error) of its own sample.
    pub fn between(before: (f64, f64), after: (f64, f64)) -> Self {
        Self {
            delta: after.0 - before.0,
            margin: 1.96 * before.1.hypot(after.1),
        }
    }

    /// Whether the change may be reported as a rise or a fall: `|Δ| ≥ 1.96 · SE_Δ`.
    pub fn is_beyond_margin(&self) -> bool {
        self.delta.abs() >= self.margin
    }
}

/// Wilson score interval for a proportion `successes / n` at z = 1.96.
pub fn wilson_interval(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let z: f64 = 1.96;
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    fn repeat(points: u8, count: usize) -> Vec<u8> {
        vec![points; count]
    }

    #[test]
    fn worked_example_1_excludes_dont_know() {
        let points = [
            repeat(100, 30),
            repeat(80, 40),
            repeat(50, 20),
            repeat(20, 6),
            repeat(0, 4),
        ]
        .concat();
        let mut m = Moments::from_points(&points);
        for _ in 0..10 {
            m += Moments::of_answer(None, false);
        }
        assert_eq!(m.valid, 100);
        assert_eq!(m.excluded, 10);
        assert!(close(m.mean().unwrap(), 73.2));
    }

    #[test]
    fn worked_example_2() {
        let points = [
            repeat(100, 12),
            repeat(80, 20),
            repeat(60, 8),
            repeat(40, 5),
            repeat(0, 3),
        ]
        .concat();
        let m = Moments::from_points(&points);
        assert_eq!(m.valid, 48);
        assert!(close(m.mean().unwrap(), 72.5));
    }

    #[test]
    fn worked_example_3_composite() {
        let scores = [73.2, 68.0, 77.5, 65.0, 85.0, 75.0, 87.5];
        let weights = [10.0, 10.0, 4.0, 4.0, 4.0, 4.0, 4.0];
        let composite = composite_score(weights.into_iter().zip(scores.map(Some))).unwrap();
        assert!(close(composite, 74.3));
    }

    #[test]
    fn composite_skips_indicators_without_valid_answers() {
        assert_eq!(
            composite_score([(1.0, Some(80.0)), (3.0, None)]),
            Some(80.0)
        );
        assert_eq!(composite_score([(1.0, None)]), None);
    }

    #[test]
    fn composite_bound_worked_example() {
        // Weights 10, 10, 4 with SEs 1.2, 1.5, 2.0 -> (12 + 15 + 8) / 24.
        let indicator = |weight: f64, score: f64, se: f64, n: i64| {
            let half = t_quantile_975(n - 1) * se;
            let interval = (score - half, score + half);
            (
                weight,
                Some(score),
                Uncertainty::of(Some(se), Some(interval)),
            )
        };
        let parts = [
            indicator(10.0, 73.2, 1.2, 100),
            indicator(10.0, 68.0, 1.5, 60),
            indicator(4.0, 77.5, 2.0, 30),
        ];
        let bound = conservative_composite_uncertainty(parts).unwrap();
        assert!(close(bound.standard_error, 1.4583), "{bound:?}");
        let composite = composite_score(parts.map(|(w, s, _)| (w, s))).unwrap();
        let half = (10.0 * t_quantile_975(99) * 1.2
            + 10.0 * t_quantile_975(59) * 1.5
            + 4.0 * t_quantile_975(29) * 2.0)
            / 24.0;
        let (lower, upper) = bound.confidence_interval;
        assert!((lower - (composite - half)).abs() < 1e-9, "{lower}");
        assert!((upper - (composite + half)).abs() < 1e-9, "{upper}");
    }

    #[test]
    fn composite_bound_counts_the_indicators_of_the_composite_only() {
        let known = Uncertainty::of(Some(2.0), Some((76.0, 84.0)));
        // An indicator without a score is not in the composite, so not in its bound either.
        let bound =
            conservative_composite_uncertainty([(3.0, Some(80.0), known), (5.0, None, None)])
                .unwrap();
        assert_eq!(bound, known.unwrap());
        // One that counts but has no standard error (a single answer) leaves the bound absent.
        let single = conservative_composite_uncertainty([
            (3.0, Some(80.0), known),
            (5.0, Some(100.0), None),
        ]);
        assert_eq!(single, None);
        assert_eq!(
            conservative_composite_uncertainty([(1.0, None, None)]),
            None
        );
        assert_eq!(Uncertainty::of(Some(1.0), None), None);
    }

    #[test]
    fn changes_within_and_beyond_the_margin_worked_examples() {
        // 73.57 (SE 1.20) -> 76.09 (SE 1.10): within the margin.
        let change = Change::between((73.57, 1.20), (76.09, 1.10));
        assert!(close(change.delta, 2.52));
        assert!(close(change.margin, 3.1906), "{change:?}");
        assert!(!change.is_beyond_margin());
        // With SEs 0.80 and 0.75 the same scores are a rise.
        let change = Change::between((73.57, 0.80), (76.09, 0.75));
        assert!(close(change.margin, 2.1493), "{change:?}");
        assert!(change.is_beyond_margin());
        // A fall is judged the same way.
        assert!(Change::between((76.09, 0.75), (73.57, 0.80)).is_beyond_margin());
    }

    #[test]
    fn remembered_t_quantiles_equal_computed_ones() {
        for df in [1, 9, 29, 4095, 4096, 100_000] {
            let exact = StudentsT::new(0.0, 1.0, df as f64)
                .unwrap()
                .inverse_cdf(0.975);
            // Asked twice: once filling the table, once reading it.
            assert_eq!(t_quantile_975(df), exact, "df {df}");
            assert_eq!(t_quantile_975(df), exact, "df {df}");
        }
        assert!(close(t_quantile_975(29), 2.0452));
    }

    #[test]
    fn confidence_interval_worked_example() {
        let m = Moments::from_points(&[100, 80, 80, 60, 100, 40, 80, 100, 60, 80]);
        assert!(close(m.mean().unwrap(), 78.0));
        assert!(close(m.variance().unwrap().sqrt(), 19.8886));
        assert!(close(m.standard_error().unwrap(), 6.2893));
        assert!(close(t_quantile_975(9), 2.2622));
        let (lo, hi) = m.confidence_interval_95().unwrap();
        assert!(close(lo, 63.7726) && close(hi, 92.2274), "{lo} {hi}");
    }

    #[test]
    fn one_answer_has_no_interval() {
        let m = Moments::from_points(&[70]);
        assert_eq!(m.mean(), Some(70.0));
        assert_eq!(m.confidence_interval_95(), None);
    }

    #[test]
    fn top_three_share_of_worked_example_one() {
        // Options 100/80/50/20/0 answered 30/40/20/6/4 times, and 10 "don't know": the top
        // three are 100, 80 and 50.
        let mut m = Moments::default();
        for (points, count) in [(100, 30), (80, 40), (50, 20), (20, 6), (0, 4)] {
            for _ in 0..count {
                m += Moments::of_answer(Some(points), points >= 50);
            }
        }
        for _ in 0..10 {
            m += Moments::of_answer(None, false);
        }
        assert_eq!((m.valid, m.excluded, m.top_three), (100, 10, 90));
        assert!(close(m.top_three_share().unwrap(), 0.9));
        assert_eq!(m.top_three_interval(), wilson_interval(90, 100));
        let bernoulli = m.top_three_indicator();
        assert!(close(bernoulli.mean().unwrap(), 0.9));
        assert_eq!(Moments::default().top_three_share(), None);
        assert_eq!(Moments::default().top_three_interval(), None);
    }

    #[test]
    fn wilson_worked_examples() {
        let check = |s, n, lo: f64, hi: f64| {
            let (a, b) = wilson_interval(s, n).unwrap();
            assert!(close(a, lo) && close(b, hi), "{s}/{n}: {a} {b}");
        };
        check(45, 50, 0.7864, 0.9565);
        check(30, 30, 0.8865, 1.0);
        check(0, 30, 0.0, 0.1135);
        assert_eq!(wilson_interval(0, 0), None);
    }

    proptest! {
        #[test]
        fn moments_match_a_direct_computation(points in proptest::collection::vec(0u8..=100, 2..200)) {
            let m = Moments::from_points(&points);
            let n = points.len() as f64;
            let mean = points.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
            let var = points.iter().map(|&p| (f64::from(p) - mean).powi(2)).sum::<f64>() / (n - 1.0);
            prop_assert!((m.mean().unwrap() - mean).abs() < 1e-9);
            prop_assert!((m.variance().unwrap() - var).abs() < 1e-6);
        }

        #[test]
        fn moments_of_a_concatenation_are_the_sum(a in proptest::collection::vec(0u8..=100, 0..50), b in proptest::collection::vec(0u8..=100, 0..50)) {
            let mut left = Moments::from_points(&a);
            left += Moments::from_points(&b);
            prop_assert_eq!(left, Moments::from_points(&[a, b].concat()));
        }
    }
}
