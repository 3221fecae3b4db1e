//! The composite's conservative standard error and interval, unweighted and weighted, held
//! against DOMAIN.md's formulas applied to the raw stored answers.

use std::collections::BTreeMap;

use canvass::domain::channel::Carrier;
use canvass::proto::v1 as pb;

use crate::helpers::*;

/// A fixed-seed generator, so each workload is reproducible.
fn generator(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |bound| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    }
}

/// Random answers to the standard questionnaire: each indicator answered four times in five,
/// "don't know" and "refused" among the options.
fn random_answers(next: &mut impl FnMut(usize) -> usize) -> Vec<pb::Answer> {
    let options = [
        (
            "security",
            ["a", "b", "c", "d", "e", "dk", "refused"].as_slice(),
        ),
        ("police", ["a", "b", "c", "d", "e", "dk"].as_slice()),
        ("visits", ["a", "b", "dk"].as_slice()),
    ];
    let mut answers = Vec::new();
    for (code, opts) in options {
        if next(5) > 0 {
            answers.push(answer(code, opts[next(opts.len())]));
        }
    }
    if answers.is_empty() {
        vec![answer("visits", "a")]
    } else {
        answers
    }
}

fn assert_near(actual: f64, expected: f64, at: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{at}: {actual} vs {expected}"
    );
}

/// Checks a reported (standard error, interval) pair against the recomputed bound.
fn assert_bound(
    se: Option<f64>,
    interval: Option<pb::ConfidenceInterval>,
    expected: Option<(f64, (f64, f64))>,
    at: &str,
) {
    match expected {
        Some((e_se, (e_lower, e_upper))) => {
            assert_near(se.unwrap_or_else(|| panic!("{at}: no bound")), e_se, at);
            let interval = interval.unwrap_or_else(|| panic!("{at}: no interval"));
            assert_near(interval.lower, e_lower, at);
            assert_near(interval.upper, e_upper, at);
        }
        None => assert_eq!((se, interval), (None, None), "{at}"),
    }
}

/// Carrier shares as the offices publish them: subscriber counts.
const SUBSCRIBERS: [(Carrier, pb::Carrier, f64); 3] = [
    (Carrier::ChinaTelecom, pb::Carrier::ChinaTelecom, 58_000.0),
    (Carrier::ChinaMobile, pb::Carrier::ChinaMobile, 360_000.0),
    (Carrier::ChinaUnicom, pb::Carrier::ChinaUnicom, 240_000.0),
];

per_backend! {
    async fn the_composite_carries_a_conservative_interval_recomputed_from_raw_answers(app: TestApp) {
        app.seed().await;
        let mut next = generator(0x9e37_79b9_7f4a_7c15);
        let mut client = app.field_worker(&["city"]);
        for unit in ["jinshi-v1", "jinshi-v2", "dongshan-c1"] {
            for _ in 0..(12 + next(20)) {
                client.submit_visit(visit("c1", unit, random_answers(&mut next))).await.unwrap();
            }
        }
        // dongshan-c2: security answered often, police exactly once, so the composite counts an
        // indicator without a standard error.
        for i in 0..6 {
            let mut answers = vec![answer("security", ["a", "c", "e"][i % 3])];
            if i == 0 {
                answers.push(answer("police", "b"));
            }
            client.submit_visit(visit("c1", "dongshan-c2", answers)).await.unwrap();
        }

        let stored: Vec<_> = stored_submissions(&app, "c1").await.into_iter().filter(|s| s.review_state.counts()).collect();
        let (points, weights) = points_table();
        for (unit, ..) in SEEDED_UNITS {
            let members = seeded_subtree(unit);
            let parts: Vec<(f64, Estimate)> = answered_points(&points, &stored, &members)
                .into_iter()
                .map(|(code, values)| {
                    let points: Vec<f64> = values.into_iter().map(|(_, p)| p).collect();
                    (weights[&code], mean_estimate(&points))
                })
                .collect();
            let expected = conservative_bound(&parts);
            let score = unit_score(&app, "c1", unit).await;
            let at = format!("c1/{unit}");
            assert_bound(
                score.composite_conservative_standard_error,
                score.composite_conservative_interval,
                expected,
                &at,
            );
            // The bound sits around the composite, and no weighted figures in an unweighted campaign.
            if let (Some(composite), Some(interval)) = (score.composite_score, score.composite_conservative_interval) {
                assert_near(interval.lower + interval.upper, 2.0 * composite, &at);
            }
            assert_eq!(score.weighted_composite_conservative_standard_error, None, "{at}");
            assert!(score.weighting_strata.is_empty(), "{at}");
        }
        let single = unit_score(&app, "c1", "dongshan-c2").await;
        assert!(single.composite_score.is_some());
        assert_eq!(single.composite_conservative_standard_error, None, "an indicator with one answer");
        assert!(single.composite_conservative_interval.is_none());
        let empty = unit_score(&app, "c1", "xinfang").await;
        assert_eq!((empty.composite_score, empty.composite_conservative_standard_error), (None, None));
    }

    async fn the_weighted_composite_carries_the_same_bound_over_weighted_estimates(app: TestApp) {
        app.seed().await;
        let mut c = campaign("by-carrier", None, 1);
        c.weighting = Some(pb::Weighting {
            method: pb::WeightingMethod::PostStratification.into(),
            margins: vec![pb::Margin {
                dimension: "carrier".into(),
                levels: SUBSCRIBERS
                    .iter()
                    .map(|(_, level, count)| pb::MarginLevel {
                        value: level.as_str_name().into(),
                        population: *count,
                        ..Default::default()
                    })
                    .collect(),
            }],
        });
        app.create_campaign(c).await;
        let mut next = generator(0x2545_f491_4f6c_dd1d);
        let mut caller = app.call_center(&["city"]);
        let carriers = [pb::Carrier::ChinaTelecom, pb::Carrier::ChinaMobile, pb::Carrier::ChinaMobile, pb::Carrier::ChinaUnicom];
        let mut polls = 0;
        for unit in ["jinshi-v1", "jinshi-v2", "dongshan-c1"] {
            for _ in 0..(20 + next(20)) {
                polls += 1;
                let mut poll = phone_poll("by-carrier", unit, &format!("+86137{polls:08}"), random_answers(&mut next));
                poll.carrier = carriers[next(carriers.len())].into();
                caller.submit_phone_poll(poll).await.unwrap();
            }
        }
        // Visits have no carrier: they count unweighted and get no weight.
        let mut worker = app.field_worker(&["city"]);
        for _ in 0..3 {
            worker.submit_visit(visit("by-carrier", "jinshi-v1", random_answers(&mut next))).await.unwrap();
        }

        let stored: Vec<_> = stored_submissions(&app, "by-carrier").await.into_iter().filter(|s| s.review_state.counts()).collect();
        let (points, indicator_weights) = points_table();
        let shares: Vec<(Carrier, f64)> = SUBSCRIBERS.iter().map(|(c, _, n)| (*c, *n)).collect();
        let wire_name = |c: Carrier| SUBSCRIBERS.iter().find(|(d, ..)| *d == c).unwrap().1.as_str_name();
        for unit in ["city", "jinshi", "jinshi-v1", "dongshan", "dongshan-c1"] {
            let members = seeded_subtree(unit);
            let at = format!("by-carrier/{unit}");
            let weights = carrier_weights(&stored, &members, &shares);
            let score = unit_score(&app, "by-carrier", unit).await;

            // Each stratum's weight and submissions, beside the weighted figures.
            let reported: BTreeMap<String, (f64, i64)> = score
                .weighting_strata
                .iter()
                .map(|s| (s.levels["carrier"].clone(), (s.weight, s.sample_count)))
                .collect();
            assert_eq!(reported.len(), weights.len(), "{at}");
            for (carrier, (w, n)) in &weights {
                let (rw, rn) = reported[wire_name(*carrier)];
                assert_near(rw, *w, &at);
                assert_eq!(rn, *n, "{at}");
            }
            assert_eq!(score.weighted_submission_count, weights.values().map(|(_, n)| n).sum::<i64>(), "{at}");

            let mut parts = Vec::new();
            for (code, values) in answered_points(&points, &stored, &members) {
                let weighted: Vec<(f64, f64)> = values
                    .iter()
                    .filter_map(|(carrier, y)| Some((weights.get(&(*carrier)?)?.0, *y)))
                    .collect();
                let indicator = score.indicators.iter().find(|i| i.indicator_code == code).unwrap();
                if weighted.is_empty() {
                    assert!(indicator.weighted.is_none(), "{at}/{code}");
                    continue;
                }
                let expected = weighted_estimate(&weighted);
                let estimate = indicator.weighted.as_ref().unwrap_or_else(|| panic!("{at}/{code}"));
                assert_near(estimate.mean, expected.mean, &format!("{at}/{code}"));
                assert_bound(estimate.standard_error, estimate.confidence_interval, expected.spread, &format!("{at}/{code}"));
                // The strata this estimate weighs, with their valid answers to the indicator.
                let mut answers_per_carrier: BTreeMap<&str, i64> = BTreeMap::new();
                for (carrier, _) in &values {
                    if let Some(c) = carrier.filter(|c| weights.contains_key(c)) {
                        *answers_per_carrier.entry(wire_name(c)).or_default() += 1;
                    }
                }
                let strata: BTreeMap<&str, (f64, i64)> = estimate
                    .strata
                    .iter()
                    .map(|s| (s.levels["carrier"].as_str(), (s.weight, s.sample_count)))
                    .collect();
                assert_eq!(strata.keys().collect::<Vec<_>>(), answers_per_carrier.keys().collect::<Vec<_>>(), "{at}/{code}");
                for (level, n) in &answers_per_carrier {
                    assert_eq!(strata[level].1, *n, "{at}/{code}");
                    assert_eq!(strata[level].0, reported[*level].0, "{at}/{code}");
                }
                parts.push((indicator_weights[&code], expected));
            }
            assert_bound(
                score.weighted_composite_conservative_standard_error,
                score.weighted_composite_conservative_interval,
                conservative_bound(&parts),
                &at,
            );
        }
    }
}
