//! Survey weights: post-stratification and raking to population margins, and the weighted
//! estimates (mean, linearised standard error, Kish effective sample size) they imply.
//!
//! Everything works on cells: respondents that share every weighting dimension share a weight,
//! so a cell's count and its indicator moments are all that is needed. That keeps weighted
//! estimates as incremental and exact as the unweighted ones.

use std::collections::BTreeMap;

use super::stats::{Moments, t_quantile_975};

/// Raking stops when every margin is matched this closely (as a share of the total).
const RAKING_TOLERANCE: f64 = 1e-10;
const RAKING_MAX_CYCLES: usize = 1000;

/// A population margin: target shares of the levels of one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Margin {
    pub dimension: String,
    /// Level -> population share; shares are positive and sum to 1 within a rounding tolerance
    /// (validated at the boundary), and are rescaled to sum to 1 where weights are computed.
    pub shares: BTreeMap<String, f64>,
}

/// Population shares from population counts per level (or anything proportional to them):
/// each count over their sum. The counts are positive and finite (validated at the boundary).
pub fn shares_of_populations(populations: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let total: f64 = populations.values().sum();
    populations
        .iter()
        .map(|(level, count)| (level.clone(), count / total))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One margin: `w_h = P_h · n / n_h`.
    PostStratification,
    /// Several margins, fitted by iterative proportional fitting.
    Raking,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Weighting {
    pub method: Method,
    pub margins: Vec<Margin>,
}

/// A cell: one level per margin (in margin order).
pub type Cell = Vec<String>;

/// Weights per cell, given the sample count of each cell. Cells whose level has no target are
/// left out (weight absent); targets of levels absent from the sample are spread over the
/// levels present, so the weights still sum to the sample size.
pub fn cell_weights(weighting: &Weighting, counts: &BTreeMap<Cell, f64>) -> BTreeMap<Cell, f64> {
    let counts: BTreeMap<&Cell, f64> = counts
        .iter()
        .filter(|(cell, n)| {
            **n > 0.0
                && cell.len() == weighting.margins.len()
                && cell
                    .iter()
                    .zip(&weighting.margins)
                    .all(|(level, margin)| margin.shares.contains_key(level))
        })
        .map(|(cell, n)| (cell, *n))
        .collect();
    let total: f64 = counts.values().sum();
    if total == 0.0 {
        return BTreeMap::new();
    }
    // Start from weight 1 and scale to each margin in turn; with one margin a single pass is
    // exactly post-stratification.
    let mut weights: BTreeMap<&Cell, f64> = counts.keys().map(|c| (*c, 1.0)).collect();
    let cycles = match weighting.method {
        Method::PostStratification => 1,
        Method::Raking => RAKING_MAX_CYCLES,
    };
    let targets: Vec<Vec<(&String, f64)>> = weighting
        .margins
        .iter()
        .enumerate()
        .map(|(m, margin)| present_targets(margin, m, &counts))
        .collect();
    let level_total = |weights: &BTreeMap<&Cell, f64>, m: usize, level: &String| -> f64 {
        counts
            .iter()
            .filter(|(c, _)| &c[m] == level)
            .map(|(c, n)| weights[c] * n)
            .sum()
    };
    for _ in 0..cycles {
        for (m, margin_targets) in targets.iter().enumerate() {
            for (level, share) in margin_targets {
                let factor = share * total / level_total(&weights, m, level);
                for (cell, w) in weights.iter_mut() {
                    if &cell[m] == *level {
                        *w *= factor;
                    }
                }
            }
        }
        let worst_error = targets
            .iter()
            .enumerate()
            .flat_map(|(m, t)| t.iter().map(move |(level, share)| (m, *level, *share)))
            .map(|(m, level, share)| (level_total(&weights, m, level) / total - share).abs())
            .fold(0.0, f64::max);
        if worst_error < RAKING_TOLERANCE {
            break;
        }
    }
    weights.into_iter().map(|(c, w)| (c.clone(), w)).collect()
}

/// The margin's levels present in the sample, with shares rescaled to sum to 1 over them.
fn present_targets<'a>(
    margin: &'a Margin,
    m: usize,
    counts: &BTreeMap<&Cell, f64>,
) -> Vec<(&'a String, f64)> {
    let present: Vec<(&String, f64)> = margin
        .shares
        .iter()
        .filter(|(level, _)| counts.keys().any(|c| &c[m] == *level))
        .map(|(level, share)| (level, *share))
        .collect();
    let sum: f64 = present.iter().map(|(_, s)| s).sum();
    present
        .into_iter()
        .map(|(level, s)| (level, s / sum))
        .collect()
}

/// Kish's effective sample size `(Σw)² / Σw²` and design effect `n · Σw² / (Σw)²`, from
/// (weight, count) pairs.
pub fn kish(cells: impl IntoIterator<Item = (f64, f64)>) -> Option<(f64, f64)> {
    let (n, sum_w, sum_w2) = cells
        .into_iter()
        .fold((0.0, 0.0, 0.0), |(n, s, s2), (w, count)| {
            (n + count, s + w * count, s2 + w * w * count)
        });
    (sum_w > 0.0).then(|| (sum_w * sum_w / sum_w2, n * sum_w2 / (sum_w * sum_w)))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedEstimate {
    pub mean: f64,
    /// Linearised: `sqrt(n/(n-1) · Σ w²(y - ȳ_w)²) / Σw`; absent below two observations.
    pub standard_error: Option<f64>,
    pub confidence_interval: Option<(f64, f64)>,
    pub effective_sample_size: f64,
    pub design_effect: f64,
}

/// The weighted mean of points over cells of (weight, moments of that cell's valid answers).
pub fn weighted_mean(cells: &[(f64, Moments)]) -> Option<WeightedEstimate> {
    let n: f64 = cells.iter().map(|(_, m)| m.valid as f64).sum();
    let sum_w: f64 = cells.iter().map(|(w, m)| w * m.valid as f64).sum();
    if sum_w <= 0.0 {
        return None;
    }
    let mean = cells.iter().map(|(w, m)| w * m.sum as f64).sum::<f64>() / sum_w;
    // Σ over a cell of (y - ȳ)² = sum_sq - 2ȳ·sum + n·ȳ², so moments suffice.
    let spread: f64 = cells
        .iter()
        .map(|(w, m)| {
            let within = m.sum_sq as f64 - 2.0 * mean * m.sum as f64 + m.valid as f64 * mean * mean;
            w * w * within.max(0.0)
        })
        .sum();
    let (effective_sample_size, design_effect) =
        kish(cells.iter().map(|(w, m)| (*w, m.valid as f64)))?;
    let standard_error = (n >= 2.0).then(|| (n / (n - 1.0) * spread).sqrt() / sum_w);
    let confidence_interval = standard_error.map(|se| {
        let half = t_quantile_975(n as i64 - 1) * se;
        (mean - half, mean + half)
    });
    Some(WeightedEstimate {
        mean,
        standard_error,
        confidence_interval,
        effective_sample_size,
        design_effect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    fn margin(dimension: &str, shares: &[(&str, f64)]) -> Margin {
        Margin {
            dimension: dimension.into(),
            shares: shares.iter().map(|(l, s)| (l.to_string(), *s)).collect(),
        }
    }

    fn cells(entries: &[(&[&str], f64)]) -> BTreeMap<Cell, f64> {
        entries
            .iter()
            .map(|(c, n)| (c.iter().map(|s| s.to_string()).collect(), *n))
            .collect()
    }

    #[test]
    fn kish_worked_example() {
        let y = [1u8, 1, 0, 1, 0, 1, 1, 0];
        let w = [1.2, 0.8, 1.5, 1.0, 2.0, 0.5, 1.0, 1.0];
        let (n_eff, deff) = kish(w.iter().map(|w| (*w, 1.0))).unwrap();
        assert!(
            close(n_eff, 6.9948) && close(deff, 1.1437),
            "{n_eff} {deff}"
        );
        let per_respondent: Vec<(f64, Moments)> = w
            .iter()
            .zip(y)
            .map(|(w, y)| (*w, Moments::from_points(&[y])))
            .collect();
        let estimate = weighted_mean(&per_respondent).unwrap();
        assert!(close(estimate.mean, 0.5));
        assert!(
            close(estimate.standard_error.unwrap(), 0.2021),
            "{estimate:?}"
        );
        assert!(close(estimate.effective_sample_size, 6.9948));
    }

    #[test]
    fn post_stratification_by_age_worked_example() {
        let weighting = Weighting {
            method: Method::PostStratification,
            margins: vec![margin("age_band", &[("16-39", 0.45), ("40+", 0.55)])],
        };
        let weights = cell_weights(&weighting, &cells(&[(&["16-39"], 30.0), (&["40+"], 70.0)]));
        let young = weights[&vec!["16-39".to_string()]];
        let old = weights[&vec!["40+".to_string()]];
        assert!(close(young, 1.5) && close(old, 0.7857), "{young} {old}");
        // Satisfaction 0.60 and 0.90 as 60% and 90% of answers scoring 1.
        let estimate = weighted_mean(&[
            (
                young,
                Moments {
                    valid: 30,
                    excluded: 0,
                    sum: 18,
                    sum_sq: 18,
                    top_three: 0,
                },
            ),
            (
                old,
                Moments {
                    valid: 70,
                    excluded: 0,
                    sum: 63,
                    sum_sq: 63,
                    top_three: 0,
                },
            ),
        ])
        .unwrap();
        assert!(close(estimate.mean, 0.765), "{}", estimate.mean);
    }

    #[test]
    fn post_stratification_by_carrier_worked_example() {
        let total = 658_000.0;
        let weighting = Weighting {
            method: Method::PostStratification,
            margins: vec![margin(
                "carrier",
                &[
                    ("telecom", 58_000.0 / total),
                    ("mobile", 360_000.0 / total),
                    ("unicom", 240_000.0 / total),
                ],
            )],
        };
        let weights = cell_weights(
            &weighting,
            &cells(&[
                (&["telecom"], 60.0),
                (&["mobile"], 200.0),
                (&["unicom"], 140.0),
            ]),
        );
        let w = |l: &str| weights[&vec![l.to_string()]];
        assert!(
            close(w("telecom"), 0.5876) && close(w("mobile"), 1.0942) && close(w("unicom"), 1.0421)
        );
        // Means 70 / 80 / 75: every answer in a cell at the cell's mean.
        let cell = |n: i64, points: i64| Moments {
            valid: n,
            excluded: 0,
            sum: n * points,
            sum_sq: n * points * points,
            top_three: 0,
        };
        let estimate = weighted_mean(&[
            (w("telecom"), cell(60, 70)),
            (w("mobile"), cell(200, 80)),
            (w("unicom"), cell(140, 75)),
        ])
        .unwrap();
        assert!(close(estimate.mean, 77.2948), "{}", estimate.mean);
        assert!(
            close(estimate.effective_sample_size, 388.1361),
            "{}",
            estimate.effective_sample_size
        );
    }

    #[test]
    fn carrier_shares_from_subscriber_counts_and_from_rounded_shares() {
        let carriers = |amounts: [f64; 3]| -> BTreeMap<String, f64> {
            ["telecom", "mobile", "unicom"]
                .into_iter()
                .map(String::from)
                .zip(amounts)
                .collect()
        };
        let sample = cells(&[
            (&["telecom"], 60.0),
            (&["mobile"], 200.0),
            (&["unicom"], 140.0),
        ]);
        let weights_for = |shares: BTreeMap<String, f64>| {
            let weighting = Weighting {
                method: Method::PostStratification,
                margins: vec![Margin {
                    dimension: "carrier".into(),
                    shares,
                }],
            };
            let weights = cell_weights(&weighting, &sample);
            ["telecom", "mobile", "unicom"].map(|l| weights[&vec![l.to_string()]])
        };
        let estimate = |w: [f64; 3]| {
            let cell = |n: i64, points: i64| Moments::sums(n, 0, n * points, n * points * points);
            weighted_mean(&[
                (w[0], cell(60, 70)),
                (w[1], cell(200, 80)),
                (w[2], cell(140, 75)),
            ])
            .unwrap()
            .mean
        };
        let domain = [0.5876, 1.0942, 1.0421];

        // 58,000 / 360,000 / 240,000 subscribers of 658,000: DOMAIN.md's shares, weights and
        // estimate to 4 decimals.
        let shares = shares_of_populations(&carriers([58_000.0, 360_000.0, 240_000.0]));
        for (level, rounded) in [("telecom", 0.0881), ("mobile", 0.5471), ("unicom", 0.3647)] {
            assert!(close(shares[level], rounded), "{level}: {}", shares[level]);
        }
        let from_counts = weights_for(shares);
        for (w, e) in from_counts.iter().zip(domain) {
            assert!(close(*w, e), "{from_counts:?}");
        }
        assert!(close(estimate(from_counts), 77.2948));

        // The shares as published, rounded to 4 decimals (sum 0.9999), are rescaled to sum to 1:
        // w_h = (P_h / ΣP) · n / n_h. They carry 4 decimals of the shares, not of the weights,
        // so the weights and the estimate agree with the exact ones to the precision the
        // rounding leaves (each share within 0.00005: the weights within 0.0005).
        let from_rounded = weights_for(carriers([0.0881, 0.5471, 0.3647]));
        for ((w, share), n) in from_rounded
            .iter()
            .zip([0.0881, 0.5471, 0.3647])
            .zip([60.0, 200.0, 140.0])
        {
            assert!(
                (w - share / 0.9999 * 400.0 / n).abs() < 1e-12,
                "{from_rounded:?}"
            );
        }
        for (w, e) in from_rounded.iter().zip(domain) {
            assert!((w - e).abs() < 5e-4, "{from_rounded:?}");
        }
        assert!((estimate(from_rounded) - 77.2948).abs() < 1e-3);
    }

    #[test]
    fn raking_worked_example() {
        let weighting = Weighting {
            method: Method::Raking,
            margins: vec![
                margin("sex", &[("M", 0.49), ("F", 0.51)]),
                margin("area", &[("urban", 0.40), ("rural", 0.60)]),
            ],
        };
        let counts = cells(&[
            (&["M", "urban"], 20.0),
            (&["M", "rural"], 30.0),
            (&["F", "urban"], 25.0),
            (&["F", "rural"], 25.0),
        ]);
        let weights = cell_weights(&weighting, &counts);
        let w = |s: &str, a: &str| weights[&vec![s.to_string(), a.to_string()]];
        let got = [
            w("M", "urban"),
            w("M", "rural"),
            w("F", "urban"),
            w("F", "rural"),
        ];
        for (g, e) in got.iter().zip([0.8590, 1.0607, 0.9128, 1.1272]) {
            assert!(close(*g, e), "{got:?}");
        }
        let (n_eff, _) = kish(counts.iter().map(|(c, n)| (weights[c], *n))).unwrap();
        assert!(close(n_eff, 98.9094), "{n_eff}");
    }

    #[test]
    fn cells_outside_the_margins_get_no_weight() {
        let weighting = Weighting {
            method: Method::PostStratification,
            margins: vec![margin("sex", &[("M", 0.5), ("F", 0.5)])],
        };
        let weights = cell_weights(&weighting, &cells(&[(&["M"], 10.0), (&["X"], 5.0)]));
        assert_eq!(weights.len(), 1);
        // Only M is present, so it carries the whole population.
        assert!(close(weights[&vec!["M".to_string()]], 1.0));
    }
}
