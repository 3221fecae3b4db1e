//! Campaign margins given as rounded published shares or as population counts, and the weights
//! they lead to, read beside the weighted estimates: DOMAIN.md's carrier example end to end.

use std::collections::BTreeMap;

use canvass::domain::channel::Carrier;
use canvass::proto::v1 as pb;

use crate::helpers::*;

/// The carriers of DOMAIN.md's example: (domain, wire, subscribers, published share, polls,
/// option answered, its points).
const CARRIERS: [(Carrier, pb::Carrier, f64, f64, usize, &str, f64); 3] = [
    (
        Carrier::ChinaTelecom,
        pb::Carrier::ChinaTelecom,
        58_000.0,
        0.0881,
        60,
        "p70",
        70.0,
    ),
    (
        Carrier::ChinaMobile,
        pb::Carrier::ChinaMobile,
        360_000.0,
        0.5471,
        200,
        "p80",
        80.0,
    ),
    (
        Carrier::ChinaUnicom,
        pb::Carrier::ChinaUnicom,
        240_000.0,
        0.3647,
        140,
        "p75",
        75.0,
    ),
];

fn level(value: &str, share: f64, population: f64) -> pb::MarginLevel {
    pb::MarginLevel {
        value: value.into(),
        share,
        population,
    }
}

fn carrier_margin(levels: Vec<pb::MarginLevel>) -> pb::Weighting {
    pb::Weighting {
        method: pb::WeightingMethod::PostStratification.into(),
        margins: vec![pb::Margin {
            dimension: "carrier".into(),
            levels,
        }],
    }
}

/// One indicator whose options score 70, 75 and 80, as the example's carrier means.
fn overall_questionnaire() -> pb::Questionnaire {
    let mut q = standard_questionnaire();
    q.id = "qc".into();
    q.indicators = vec![pb::Indicator {
        code: "overall".into(),
        text: "总体满意度".into(),
        weight: 1.0,
        options: vec![scored("p70", 70), scored("p75", 75), scored("p80", 80)],
    }];
    q
}

async fn create(
    app: &TestApp,
    id: &str,
    weighting: pb::Weighting,
) -> Result<pb::Campaign, tonic::Status> {
    let mut c = campaign(id, None, 30);
    c.questionnaire_id = "qc".into();
    c.weighting = Some(weighting);
    app.admin_catalog()
        .create_campaign(pb::CreateCampaignRequest { campaign: Some(c) })
        .await
        .map(tonic::Response::into_inner)
}

/// DOMAIN.md's 400 phone polls to `unit`: 60 / 200 / 140 by carrier at 70 / 80 / 75.
async fn send_example_polls(app: &TestApp, campaign: &str, unit: &str) {
    let mut caller = app.call_center(&["city"]);
    let mut i = 0;
    for (_, carrier, _, _, count, option, _) in CARRIERS {
        for _ in 0..count {
            i += 1;
            let mut poll = phone_poll(
                campaign,
                unit,
                &format!("+86136{i:08}"),
                vec![answer("overall", option)],
            );
            poll.carrier = carrier.into();
            caller.submit_phone_poll(poll).await.unwrap();
        }
    }
}

/// The reported weight and submissions of each carrier's stratum.
fn strata(strata: &[pb::WeightingStratum]) -> BTreeMap<String, (f64, i64)> {
    strata
        .iter()
        .map(|s| {
            assert_eq!(s.levels.len(), 1, "{s:?}");
            (s.levels["carrier"].clone(), (s.weight, s.sample_count))
        })
        .collect()
}

fn close(a: f64, b: f64, within: f64) -> bool {
    (a - b).abs() < within
}

per_backend! {
    async fn carrier_margins_as_rounded_shares_or_as_counts_weight_as_the_worked_example(app: TestApp) {
        app.seed_units().await;
        app.create_questionnaire(overall_questionnaire()).await;
        let by_counts = create(&app, "counts", carrier_margin(
            CARRIERS.iter().map(|(_, c, n, ..)| level(c.as_str_name(), 0.0, *n)).collect(),
        )).await.expect("population counts are accepted");
        // 0.0881 + 0.5471 + 0.3647 = 0.9999: shares rounded to 4 decimals are accepted.
        let by_shares = create(&app, "shares", carrier_margin(
            CARRIERS.iter().map(|(_, c, _, p, ..)| level(c.as_str_name(), *p, 0.0)).collect(),
        )).await.expect("rounded shares are accepted");

        // Counts come back as the shares the server derived; shares as given.
        let total: f64 = CARRIERS.iter().map(|(_, _, n, ..)| n).sum();
        let read = app.admin_catalog().get_campaign(pb::GetCampaignRequest { id: "counts".into() }).await.unwrap().into_inner();
        assert_eq!(read.weighting, by_counts.weighting);
        for l in &read.weighting.as_ref().unwrap().margins[0].levels {
            let (.., n, published, _, _, _) = CARRIERS.iter().find(|c| c.1.as_str_name() == l.value).unwrap();
            assert!(close(l.share, n / total, 1e-12), "{l:?}");
            assert!(close(l.share, *published, 5e-5), "{l:?}");
            assert_eq!(l.population, 0.0);
        }
        let shares_read: Vec<f64> = by_shares.weighting.unwrap().margins[0].levels.iter().map(|l| l.share).collect();
        let mut published: Vec<(&str, f64)> = CARRIERS.iter().map(|c| (c.1.as_str_name(), c.3)).collect();
        published.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(shares_read, published.iter().map(|(_, p)| *p).collect::<Vec<_>>());

        send_example_polls(&app, "counts", "jinshi-v1").await;
        send_example_polls(&app, "shares", "jinshi-v1").await;

        let domain_weights: BTreeMap<&str, f64> = [
            ("CARRIER_CHINA_TELECOM", 0.5876),
            ("CARRIER_CHINA_MOBILE", 1.0942),
            ("CARRIER_CHINA_UNICOM", 1.0421),
        ].into();
        for (campaign_id, shares, precision) in [
            ("counts", CARRIERS.map(|c| (c.0, c.2)), 5e-5),
            // Shares rounded to 4 decimals fix the weights only as far as the rounding leaves
            // them: each share within 0.00005 keeps the weights within 0.0005.
            ("shares", CARRIERS.map(|c| (c.0, c.3)), 5e-4),
        ] {
            let stored: Vec<_> = stored_submissions(&app, campaign_id).await.into_iter().filter(|s| s.review_state.counts()).collect();
            let members = seeded_subtree("city");
            let weights = carrier_weights(&stored, &members, &shares);
            let score = unit_score(&app, campaign_id, "city").await;
            let reported = strata(&score.weighting_strata);
            assert_eq!(reported.len(), 3, "{campaign_id}");
            for (carrier, (w, n)) in &weights {
                let name = CARRIERS.iter().find(|c| c.0 == *carrier).unwrap().1.as_str_name();
                let (rw, rn) = reported[name];
                assert!(close(rw, *w, 1e-9), "{campaign_id}/{name}: {rw} vs {w}");
                assert!(close(rw, domain_weights[name], precision), "{campaign_id}/{name}: {rw}");
                assert_eq!(rn, *n);
            }
            assert_eq!(reported.values().map(|(_, n)| n).collect::<Vec<_>>(), [&200, &60, &140]);

            // The estimate, recomputed from the raw answers with those weights.
            let (points, _) = points_table_of(&overall_questionnaire());
            let answered = answered_points(&points, &stored, &members);
            let values: Vec<(f64, f64)> = answered["overall"]
                .iter()
                .map(|(carrier, y)| (weights[&carrier.unwrap()].0, *y))
                .collect();
            let expected = weighted_estimate(&values);
            let overall = &score.indicators[0];
            let weighted = overall.weighted.as_ref().unwrap();
            assert!(close(weighted.mean, expected.mean, 1e-9), "{campaign_id}: {weighted:?}");
            assert!(close(weighted.mean, 77.2948, if campaign_id == "counts" { 5e-5 } else { 1e-3 }), "{campaign_id}: {}", weighted.mean);
            assert!(close(score.weighted_composite_score.unwrap(), weighted.mean, 1e-12));
            // confidence_interval = mean ± t(0.975, n-1) · standard_error, n = 400 answers.
            let (se, (lower, upper)) = expected.spread.unwrap();
            assert!(close(weighted.standard_error.unwrap(), se, 1e-9));
            let interval = weighted.confidence_interval.unwrap();
            assert!(close(interval.lower, lower, 1e-9) && close(interval.upper, upper, 1e-9), "{interval:?}");
            assert!(close(interval.upper - weighted.mean, t_975(400) * se, 1e-9));
            // The indicator's strata: the same weights, and its valid answers per stratum.
            assert_eq!(strata(&weighted.strata), reported, "{campaign_id}");
            if campaign_id == "counts" {
                assert!(close(weighted.effective_sample_size, 388.1361, 5e-5));
            }
        }
    }

    async fn margins_that_are_neither_shares_nor_counts_are_refused(app: TestApp) {
        app.seed_units().await;
        app.create_questionnaire(overall_questionnaire()).await;
        let levels = |pairs: &[(f64, f64)]| -> Vec<pb::MarginLevel> {
            let names = ["CARRIER_CHINA_TELECOM", "CARRIER_CHINA_MOBILE", "CARRIER_CHINA_UNICOM"];
            pairs.iter().zip(names).map(|((share, population), name)| level(name, *share, *population)).collect()
        };
        let field = "campaign.weighting.margins[0]";
        let refused: [(&str, Vec<pb::MarginLevel>, Vec<String>); 7] = [
            ("sum 0.9985", levels(&[(0.0881, 0.0), (0.5471, 0.0), (0.3633, 0.0)]), vec![format!("{field}.levels")]),
            ("sum 1.0011", levels(&[(0.0892, 0.0), (0.5471, 0.0), (0.3648, 0.0)]), vec![format!("{field}.levels")]),
            ("a share missing", levels(&[(0.45, 0.0), (0.55, 0.0), (0.0, 0.0)]), vec![format!("{field}.levels[2].share")]),
            ("a share beside populations", levels(&[(0.0881, 58_000.0), (0.0, 360_000.0), (0.0, 240_000.0)]), vec![format!("{field}.levels[0].share")]),
            ("shares and populations mixed", levels(&[(0.0881, 0.0), (0.0, 360_000.0), (0.0, 240_000.0)]), vec![format!("{field}.levels[0].share"), format!("{field}.levels[0].population")]),
            ("a negative population", levels(&[(0.0, 58_000.0), (0.0, -1.0), (0.0, 240_000.0)]), vec![format!("{field}.levels[1].population")]),
            ("an infinite population", levels(&[(0.0, 58_000.0), (0.0, f64::INFINITY), (0.0, 240_000.0)]), vec![format!("{field}.levels[1].population")]),
        ];
        for (i, (case, levels, fields)) in refused.into_iter().enumerate() {
            let status = create(&app, &format!("bad-{i}"), carrier_margin(levels)).await.expect_err(case);
            assert_eq!(violated_fields(&status), fields, "{case}");
        }
        let status = create(&app, "no-levels", carrier_margin(Vec::new())).await.unwrap_err();
        assert_eq!(violated_fields(&status), [format!("{field}.levels")]);

        // Within 0.001 of 1 either way is rounding, and accepted.
        for (i, pairs) in [
            [(0.0881, 0.0), (0.5471, 0.0), (0.3639, 0.0)],
            [(0.0881, 0.0), (0.5471, 0.0), (0.3657, 0.0)],
        ].into_iter().enumerate() {
            create(&app, &format!("rounded-{i}"), carrier_margin(levels(&pairs))).await.expect("within the tolerance");
        }
        // Populations need not sum to anything: thousands of subscribers work as well.
        create(&app, "thousands", carrier_margin(levels(&[(0.0, 58.0), (0.0, 360.0), (0.0, 240.0)]))).await.unwrap();
    }
}
