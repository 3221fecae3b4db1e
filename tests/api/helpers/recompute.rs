//! The tests' own recomputation of the scores from the raw stored rows, to hold the server's
//! incrementally maintained aggregates against.

use std::collections::{BTreeMap, HashMap};

use canvass::domain::channel::Carrier;
use canvass::proto::v1 as pb;
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::fixtures::{SEEDED_UNITS, seeded_subtree, standard_questionnaire};
use super::harness::{TestApp, unit_score};
use super::stored::{StoredSubmission, stored_submissions};

/// The test's own model of the questionnaire: option -> points (None = not scored), weights.
/// (indicator, option) -> points, `None` for options that are not scored.
pub type PointsTable = HashMap<(String, String), Option<u32>>;

pub fn points_table() -> (PointsTable, HashMap<String, f64>) {
    points_table_of(&standard_questionnaire())
}

/// [`points_table`] of any questionnaire.
pub fn points_table_of(q: &pb::Questionnaire) -> (PointsTable, HashMap<String, f64>) {
    let mut points = HashMap::new();
    let mut weights = HashMap::new();
    for i in &q.indicators {
        weights.insert(i.code.clone(), i.weight);
        for o in &i.options {
            let scored = (o.kind() == pb::OptionKind::Scored).then_some(o.points);
            points.insert((i.code.clone(), o.code.clone()), scored);
        }
    }
    (points, weights)
}

/// Expected figures of one unit, recomputed from raw stored submissions.
#[derive(Debug)]
pub struct Expected {
    pub submissions: i64,
    /// indicator -> (valid answers, mean points); only indicators with a valid answer.
    pub means: BTreeMap<String, (i64, f64)>,
    /// indicator -> "don't know" and "refused" answers.
    pub excluded: BTreeMap<String, i64>,
    /// indicator -> valid answers that chose one of its top three options, for indicators with
    /// more than three scored options.
    pub top_three: BTreeMap<String, i64>,
    pub composite: Option<f64>,
}

/// Whether `points` are among the top three of `indicator`'s scored options (fewer than three
/// score more), or `None` when it has three or fewer: DOMAIN.md's share satisfied.
pub fn in_top_three(points: &PointsTable, indicator: &str, p: u32) -> Option<bool> {
    let scored: Vec<u32> = points
        .iter()
        .filter(|((i, _), _)| i == indicator)
        .filter_map(|(_, p)| *p)
        .collect();
    (scored.len() > 3).then(|| scored.iter().filter(|&&other| other > p).count() < 3)
}

/// Recomputes a unit's figures from the raw rows: pool the answers of every submission whose
/// unit lies in `members`, average the points of scored answers, weight the means.
pub fn recompute(stored: &[StoredSubmission], members: &[&str]) -> Expected {
    let (points, weights) = points_table();
    let mut sums: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    let mut excluded: BTreeMap<String, i64> = BTreeMap::new();
    let mut top_three: BTreeMap<String, i64> = BTreeMap::new();
    let mut submissions = 0;
    for s in stored
        .iter()
        .filter(|s| members.contains(&s.unit_id.as_str()))
    {
        submissions += 1;
        for (indicator, option) in &s.answers {
            if let Some(p) = points[&(indicator.clone(), option.clone())] {
                let e = sums.entry(indicator.clone()).or_default();
                e.0 += 1;
                e.1 += f64::from(p);
                if let Some(top) = in_top_three(&points, indicator, p) {
                    *top_three.entry(indicator.clone()).or_default() += i64::from(top);
                }
            } else {
                *excluded.entry(indicator.clone()).or_default() += 1;
            }
        }
    }
    let means: BTreeMap<String, (i64, f64)> = sums
        .into_iter()
        .map(|(k, (n, sum))| (k, (n, sum / n as f64)))
        .collect();
    let total_weight: f64 = means.keys().map(|k| weights[k]).sum();
    let composite = (!means.is_empty())
        .then(|| means.iter().map(|(k, (_, m))| weights[k] * m).sum::<f64>() / total_weight);
    Expected {
        submissions,
        means,
        excluded,
        top_three,
        composite,
    }
}

/// `unit` and every unit below it in `units` ((id, parent) pairs, in any order).
pub fn subtree_of<'a>(units: &[(&'a str, Option<&'a str>)], unit: &str) -> Vec<&'a str> {
    let parent_of = |id: &str| {
        units
            .iter()
            .find(|(u, _)| *u == id)
            .and_then(|(_, parent)| *parent)
    };
    units
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| std::iter::successors(Some(*id), |u| parent_of(u)).any(|a| a == unit))
        .collect()
}

/// Standard competition ranks ("1224") recomputed from scratch: sort the scores rounded half-up
/// to two decimals, best first; a unit's rank is 1 + the units strictly above it. Units without
/// a score are not ranked. The nudge keeps a decimal half stored a hair below (73.125 as
/// 73.12499…) rounding up, as it is displayed.
pub fn expected_ranks(scores: &[(&str, Option<f64>)]) -> BTreeMap<String, i32> {
    let cents = |x: f64| (x * 100.0 + 1e-6).round() as i64;
    let mut sorted: Vec<i64> = scores.iter().filter_map(|(_, s)| s.map(cents)).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    scores
        .iter()
        .filter_map(|(unit, score)| {
            let key = cents((*score)?);
            let above = sorted.iter().take_while(|&&other| other > key).count();
            Some((unit.to_string(), 1 + above as i32))
        })
        .collect()
}

/// Competition ranks counted from the bottom, recomputed: 1 + the units strictly below at two
/// decimals (rounded as in [`expected_ranks`]), so the last place is 1.
pub fn expected_bottom_ranks(scores: &[(&str, Option<f64>)]) -> BTreeMap<String, i32> {
    let cents = |x: f64| (x * 100.0 + 1e-6).round() as i64;
    let all: Vec<i64> = scores.iter().filter_map(|(_, s)| s.map(cents)).collect();
    scores
        .iter()
        .filter_map(|(unit, score)| {
            let key = cents((*score)?);
            let below = all.iter().filter(|&&other| other < key).count();
            Some((unit.to_string(), 1 + below as i32))
        })
        .collect()
}

/// Checks GetUnitScore of every seeded unit against a recomputation from the campaign's stored
/// rows that count (received or approved): submission counts, every indicator's valid and
/// excluded counts and mean, and the composite.
pub async fn assert_scores_match_stored(app: &TestApp, campaign: &str) {
    let stored: Vec<_> = stored_submissions(app, campaign)
        .await
        .into_iter()
        .filter(|s| s.review_state.counts())
        .collect();
    for (unit, ..) in SEEDED_UNITS {
        let expected = recompute(&stored, &seeded_subtree(unit));
        let actual = unit_score(app, campaign, unit).await;
        let at = format!("{campaign}/{unit}");
        assert_eq!(actual.submission_count, expected.submissions, "{at}");
        match (actual.composite_score, expected.composite) {
            (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{at}: {a} vs {e}"),
            (a, e) => assert_eq!(a, e, "{at}"),
        }
        for indicator in standard_questionnaire().indicators {
            let code = indicator.code;
            let score = actual
                .indicators
                .iter()
                .find(|i| i.indicator_code == code)
                .unwrap_or_else(|| panic!("{at}: no score for {code}"));
            let excluded = expected.excluded.get(&code).copied().unwrap_or(0);
            assert_eq!(score.excluded_count, excluded, "{at}/{code}");
            match expected.means.get(&code) {
                Some((n, mean)) => {
                    assert_eq!(score.valid_count, *n, "{at}/{code}");
                    let actual_mean = score.mean.expect("a mean with valid answers");
                    assert!(
                        (actual_mean - mean).abs() < 1e-9,
                        "{at}/{code}: {actual_mean} vs {mean}"
                    );
                }
                None => assert_eq!((score.valid_count, score.mean), (0, None), "{at}/{code}"),
            }
            let reported = indicator
                .options
                .iter()
                .filter(|o| o.kind() == pb::OptionKind::Scored)
                .count()
                > 3;
            match &score.top_three {
                Some(top) => {
                    assert!(
                        reported,
                        "{at}/{code}: a top-three share with three or fewer options"
                    );
                    let count = expected.top_three.get(&code).copied().unwrap_or(0);
                    assert_eq!(top.count, count, "{at}/{code}");
                    let share =
                        (score.valid_count > 0).then(|| count as f64 / score.valid_count as f64);
                    assert_eq!(top.share, share, "{at}/{code}");
                }
                None => assert!(!reported, "{at}/{code}: no top-three share"),
            }
        }
    }
}

/// The points of every scored answer, per indicator, of the rows whose unit lies in `members`,
/// each with its submission's carrier (phone polls only).
pub fn answered_points(
    points: &PointsTable,
    stored: &[StoredSubmission],
    members: &[&str],
) -> BTreeMap<String, Vec<(Option<Carrier>, f64)>> {
    let mut answered: BTreeMap<String, Vec<(Option<Carrier>, f64)>> = BTreeMap::new();
    for s in stored
        .iter()
        .filter(|s| members.contains(&s.unit_id.as_str()))
    {
        for (indicator, option) in &s.answers {
            if let Some(p) = points[&(indicator.clone(), option.clone())] {
                answered
                    .entry(indicator.clone())
                    .or_default()
                    .push((s.carrier, f64::from(p)));
            }
        }
    }
    answered
}

/// The 97.5th percentile of Student's t with `n - 1` degrees of freedom.
pub fn t_975(n: usize) -> f64 {
    StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .expect("two or more values")
        .inverse_cdf(0.975)
}

/// A figure's estimate with its standard error and 95% interval, as DOMAIN.md defines them.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    pub mean: f64,
    /// (standard error, interval); `None` below two values.
    pub spread: Option<(f64, (f64, f64))>,
}

/// DOMAIN.md's interval of a mean: `mean ± t(0.975, n-1) · s / sqrt(n)`, s with n - 1.
pub fn mean_estimate(values: &[f64]) -> Estimate {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let spread = (n >= 2).then(|| {
        let s2 = values.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se = (s2 / n as f64).sqrt();
        let half = t_975(n) * se;
        (se, (mean - half, mean + half))
    });
    Estimate { mean, spread }
}

/// DOMAIN.md's weighted mean over (weight, y) and its linearised standard error
/// `sqrt(n/(n-1) · Σ w²(y - ȳw)²) / Σw`, with the interval `mean ± t(0.975, n-1) · SE` the
/// proto documents.
pub fn weighted_estimate(values: &[(f64, f64)]) -> Estimate {
    let n = values.len();
    let sum_w: f64 = values.iter().map(|(w, _)| w).sum();
    let mean = values.iter().map(|(w, y)| w * y).sum::<f64>() / sum_w;
    let spread = (n >= 2).then(|| {
        let spread: f64 = values.iter().map(|(w, y)| (w * (y - mean)).powi(2)).sum();
        let se = (n as f64 / (n - 1) as f64 * spread).sqrt() / sum_w;
        let half = t_975(n) * se;
        (se, (mean - half, mean + half))
    });
    Estimate { mean, spread }
}

/// DOMAIN.md's conservative bound of a composite over (weight, estimate) of the indicators that
/// count in it: `Σ aᵢ·SEᵢ` and `Σ aᵢ·[lowerᵢ, upperᵢ]`, `aᵢ = wᵢ / Σw`; `None` when one of them
/// has no standard error.
pub fn conservative_bound(parts: &[(f64, Estimate)]) -> Option<(f64, (f64, f64))> {
    let total: f64 = parts.iter().map(|(w, _)| w).sum();
    let mut bound = (0.0, (0.0, 0.0));
    for (w, estimate) in parts {
        let (se, (lower, upper)) = estimate.spread?;
        let a = w / total;
        bound.0 += a * se;
        bound.1.0 += a * lower;
        bound.1.1 += a * upper;
    }
    (!parts.is_empty()).then_some(bound)
}

/// Post-stratification weights by carrier, written out: `w_h = P_h · n / n_h` over the
/// submissions of `members` whose carrier `shares` names, with the shares rescaled to sum to 1
/// over the carriers present.
pub fn carrier_weights(
    stored: &[StoredSubmission],
    members: &[&str],
    shares: &[(Carrier, f64)],
) -> BTreeMap<Carrier, (f64, i64)> {
    let mut counts: BTreeMap<Carrier, i64> = BTreeMap::new();
    for s in stored
        .iter()
        .filter(|s| members.contains(&s.unit_id.as_str()))
    {
        if let Some(c) = s.carrier.filter(|c| shares.iter().any(|(l, _)| l == c)) {
            *counts.entry(c).or_default() += 1;
        }
    }
    let n: i64 = counts.values().sum();
    let present: f64 = shares
        .iter()
        .filter(|(c, _)| counts.contains_key(c))
        .map(|(_, p)| p)
        .sum();
    counts
        .into_iter()
        .map(|(c, n_h)| {
            let p = shares
                .iter()
                .find(|(l, _)| *l == c)
                .expect("a margin level")
                .1;
            (c, (p / present * n as f64 / n_h as f64, n_h))
        })
        .collect()
}
