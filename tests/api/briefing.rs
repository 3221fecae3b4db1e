//! The round's briefing: every fact equals what the underlying reads report, each change is
//! marked against a margin of error recomputed here from the submitted points, a first round
//! gets a briefing without changes, and the usual refusals.

use std::collections::HashMap;

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::briefing_service_client::BriefingServiceClient;
use tonic::Code;

use crate::helpers::*;

fn briefings(app: &TestApp, token: Option<&str>) -> BriefingServiceClient<Authed> {
    BriefingServiceClient::with_interceptor(
        app.channel.clone(),
        TestApp::bearer_for(token.unwrap_or_default()),
    )
}

fn analyst_briefings(app: &TestApp) -> BriefingServiceClient<Authed> {
    briefings(app, Some(&app.token(Role::Analyst, &[])))
}

/// Option letters of the standard questionnaire and their points.
const SECURITY: [(&str, u32); 5] = [("a", 100), ("b", 80), ("c", 50), ("d", 20), ("e", 0)];
const POLICE: [(&str, u32); 5] = [("a", 100), ("b", 80), ("c", 60), ("d", 40), ("e", 0)];
const VISITS: [(&str, u32); 2] = [("a", 100), ("b", 0)];

fn points(table: &[(&str, u32)], option: &str) -> f64 {
    f64::from(table.iter().find(|(o, _)| *o == option).unwrap().1)
}

/// One leaf unit's visits in a round: (count, security, police, visits) groups.
type Plan = &'static [(
    &'static str,
    &'static [(usize, &'static str, &'static str, &'static str)],
)];

/// Round 1: 金石镇 ahead of 东山办事处.
const ROUND_1: Plan = &[
    ("jinshi-v1", &[(6, "a", "b", "a"), (6, "c", "b", "b")]),
    (
        "jinshi-v2",
        &[(5, "a", "c", "a"), (2, "c", "c", "a"), (5, "c", "c", "b")],
    ),
    (
        "dongshan-c1",
        &[(5, "c", "c", "a"), (3, "c", "c", "b"), (4, "d", "c", "b")],
    ),
    (
        "dongshan-c2",
        &[(6, "c", "d", "a"), (4, "c", "d", "b"), (2, "d", "d", "b")],
    ),
    ("xinfang", &[(3, "b", "b", "a"), (3, "b", "b", "b")]),
];

/// Round 2: 东山办事处 overtakes 金石镇; security rises far beyond its margin, home visits
/// rise by about five points, well within theirs.
const ROUND_2: Plan = &[
    ("jinshi-v1", &[(6, "b", "b", "a"), (6, "c", "b", "b")]),
    (
        "jinshi-v2",
        &[(4, "b", "c", "a"), (3, "c", "c", "a"), (5, "c", "c", "b")],
    ),
    (
        "dongshan-c1",
        &[(7, "a", "b", "a"), (3, "a", "b", "b"), (2, "b", "b", "b")],
    ),
    (
        "dongshan-c2",
        &[(7, "a", "b", "a"), (2, "a", "b", "b"), (3, "b", "b", "b")],
    ),
    ("xinfang", &[(3, "b", "b", "a"), (3, "b", "b", "b")]),
];

fn requests(campaign: &str, plan: Plan) -> Vec<pb::SubmitVisitRequest> {
    let mut out = Vec::new();
    for (unit, groups) in plan {
        for (count, security, police, visits) in *groups {
            for _ in 0..*count {
                out.push(visit(
                    campaign,
                    unit,
                    vec![
                        answer("security", security),
                        answer("police", police),
                        answer("visits", visits),
                    ],
                ));
            }
        }
    }
    out
}

/// Each indicator's points over the whole plan (the city), recomputed from the answers sent.
fn city_points(plan: Plan) -> HashMap<&'static str, Vec<f64>> {
    let mut by: HashMap<&str, Vec<f64>> = HashMap::new();
    for (_, groups) in plan {
        for (count, security, police, visits) in *groups {
            for _ in 0..*count {
                by.entry("security")
                    .or_default()
                    .push(points(&SECURITY, security));
                by.entry("police")
                    .or_default()
                    .push(points(&POLICE, police));
                by.entry("visits")
                    .or_default()
                    .push(points(&VISITS, visits));
            }
        }
    }
    by
}

/// Whether the change between two samples' means is beyond 1.96 · sqrt(SE₁² + SE₂²).
fn beyond(before: &Estimate, after: &Estimate) -> bool {
    let (se1, se2) = (before.spread.unwrap().0, after.spread.unwrap().0);
    (after.mean - before.mean).abs() >= 1.96 * (se1 * se1 + se2 * se2).sqrt()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

async fn load_two_rounds(app: &TestApp) {
    app.seed_units().await;
    app.create_questionnaire(standard_questionnaire()).await;
    app.create_campaign(campaign("r1", None, 1)).await;
    app.create_campaign(campaign("r2", Some("r1"), 1)).await;
    let mut worker = app.field_worker(&["city"]);
    for r in requests("r1", ROUND_1) {
        worker.submit_visit(r).await.expect("round 1 visit");
    }
    let mut visits = requests("r2", ROUND_2);
    visits[0].grievances = vec![pb::GrievanceReport {
        category: "road_safety".into(),
        description: "村口路灯坏了".into(),
        urgency: pb::Urgency::High.into(),
    }];
    visits[30].grievances = vec![pb::GrievanceReport {
        category: "water".into(),
        description: "停水".into(),
        urgency: pb::Urgency::Medium.into(),
    }];
    for r in visits {
        worker.submit_visit(r).await.expect("round 2 visit");
    }
    let mut staff = app.review_service(Role::Reviewer, &["city"]);
    let listed = staff
        .list_grievances(pb::ListGrievancesRequest {
            campaign_id: "r2".into(),
            unit_id: "city".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .grievances;
    staff
        .update_grievance(pb::UpdateGrievanceRequest {
            campaign_id: "r2".into(),
            grievance_id: listed[0].id.clone(),
            status: pb::GrievanceStatus::Resolved.into(),
        })
        .await
        .unwrap();
    let mut seat = app.call_center_service(Role::CallCenter, &["city"]);
    for (i, (carrier, disposition)) in [
        (pb::Carrier::ChinaMobile, pb::CallDisposition::Complete),
        (pb::Carrier::ChinaMobile, pb::CallDisposition::Refusal),
        (pb::Carrier::ChinaUnicom, pb::CallDisposition::NoAnswer),
        (pb::Carrier::ChinaTelecom, pb::CallDisposition::Complete),
    ]
    .into_iter()
    .enumerate()
    {
        seat.log_call_attempt(pb::LogCallAttemptRequest {
            attempt_id: uuid::Uuid::now_v7().to_string(),
            campaign_id: "r2".into(),
            unit_id: if i % 2 == 0 {
                "jinshi-v1"
            } else {
                "dongshan-c1"
            }
            .into(),
            phone_number: format!("+86137{i:08}"),
            carrier: carrier.into(),
            attempt_time: Some(ts(now_seconds() - 120)),
            disposition: disposition.into(),
        })
        .await
        .expect("attempt logged");
    }
}

async fn get(app: &TestApp, r: pb::GetCampaignBriefingRequest) -> pb::CampaignBriefing {
    analyst_briefings(app)
        .get_campaign_briefing(r)
        .await
        .unwrap_or_else(|s| panic!("briefing: {s:?}"))
        .into_inner()
}

fn request(campaign: &str, scope: &str) -> pb::GetCampaignBriefingRequest {
    pb::GetCampaignBriefingRequest {
        campaign_id: campaign.into(),
        scope_unit_id: scope.into(),
        ..Default::default()
    }
}

/// A briefed unit's change equals the two rounds' GetUnitScore figures.
async fn assert_change_matches_scores(app: &TestApp, entry: &pb::BriefingEntry) {
    let row = entry.entry.as_ref().unwrap();
    let change = entry.change.as_ref().expect("ranked in both rounds");
    let now = unit_score(app, "r2", &row.unit_id).await;
    let before = unit_score(app, "r1", &row.unit_id).await;
    let (after_e, before_e) = (change.after.unwrap(), change.before.unwrap());
    assert_eq!(Some(after_e.score), row.score);
    assert_eq!(Some(before_e.score), row.previous_score);
    assert_eq!(
        after_e.standard_error,
        now.composite_conservative_standard_error
    );
    assert_eq!(
        before_e.standard_error,
        before.composite_conservative_standard_error
    );
    assert_eq!(
        (after_e.sample_size, before_e.sample_size),
        (now.submission_count, before.submission_count)
    );
    assert!(close(change.change, row.score_change.unwrap()));
    let margin = 1.96
        * before_e
            .standard_error
            .unwrap()
            .hypot(after_e.standard_error.unwrap());
    assert!(close(change.margin_of_error.unwrap(), margin));
    assert_eq!(
        change.beyond_margin,
        change.change.abs() >= margin,
        "{row:?}"
    );
}

per_backend! {
    async fn every_fact_equals_the_underlying_reads(app: TestApp) {
        load_two_rounds(&app).await;
        let b = get(&app, request("r2", "")).await;
        assert_eq!((b.scope_unit_id.as_str(), b.compared_campaign_id.as_str()), ("city", "r1"));
        assert_eq!((b.top_n, b.campaign_count), (5, 2));

        let now = unit_score(&app, "r2", "city").await;
        let before = unit_score(&app, "r1", "city").await;
        assert_eq!(b.score.as_ref(), Some(&now));
        let composite = b.composite.unwrap();
        assert_eq!(Some(composite.score), now.composite_score);
        assert_eq!(composite.standard_error, now.composite_conservative_standard_error);
        assert_eq!(composite.sample_size, now.submission_count);
        let change = b.composite_change.unwrap();
        assert_eq!(change.before.unwrap().score, before.composite_score.unwrap());
        assert_eq!(change.before.unwrap().standard_error, before.composite_conservative_standard_error);

        let mut aggregates = app.analyst();
        for group in &b.peer_groups {
            let kinds = group.peer_unit_kinds.clone();
            let rankings = |top_n: i32, bottom_n: i32| pb::ListRankingsRequest {
                campaign_id: "r2".into(),
                scope_unit_id: "city".into(),
                unit_kinds: kinds.clone(),
                top_n,
                bottom_n,
                ..Default::default()
            };
            let entries = |v: &[pb::BriefingEntry]| v.iter().map(|e| e.entry.clone().unwrap()).collect::<Vec<_>>();
            let top = aggregates.list_rankings(rankings(5, 0)).await.unwrap().into_inner();
            assert_eq!(entries(&group.top), top.entries, "{kinds:?}");
            assert_eq!((group.peer_count, group.ranked_count), (top.peer_count, top.ranked_count));
            let bottom = aggregates.list_rankings(rankings(0, 5)).await.unwrap().into_inner();
            assert_eq!(entries(&group.bottom), bottom.entries, "{kinds:?}");
            let movers = aggregates
                .list_rank_movers(pb::ListRankMoversRequest {
                    campaign_id: "r2".into(),
                    scope_unit_id: "city".into(),
                    unit_kinds: kinds.clone(),
                    ..Default::default()
                })
                .await.unwrap().into_inner();
            assert_eq!(entries(&group.risers), movers.risers);
            assert_eq!(entries(&group.fallers), movers.fallers);
            let laggards = aggregates
                .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
                    campaign_id: "r2".into(),
                    scope_unit_id: "city".into(),
                    unit_kinds: kinds.clone(),
                    ..Default::default()
                })
                .await.unwrap().into_inner();
            assert!(group.laggards_known);
            assert_eq!(group.laggards, laggards.entries);
            assert_eq!(group.laggard_campaign_ids, laggards.campaign_ids);
            for entry in group.top.iter().chain(&group.bottom).chain(&group.risers).chain(&group.fallers) {
                assert_change_matches_scores(&app, entry).await;
            }
        }
        let kinds: Vec<Vec<i32>> = b.peer_groups.iter().map(|g| g.peer_unit_kinds.clone()).collect();
        let k = |ks: &[pb::UnitKind]| ks.iter().map(|k| *k as i32).collect::<Vec<_>>();
        assert_eq!(kinds, [
            k(&[pb::UnitKind::Township, pb::UnitKind::Subdistrict]),
            k(&[pb::UnitKind::Department]),
            k(&[pb::UnitKind::Village, pb::UnitKind::Community]),
        ]);
        // 东山办事处 overtook 金石镇.
        let township_level = &b.peer_groups[0];
        assert_eq!(township_level.risers[0].entry.as_ref().unwrap().unit_id, "dongshan");
        assert_eq!(township_level.fallers[0].entry.as_ref().unwrap().unit_id, "jinshi");

        let mut weak = aggregates
            .get_unit_weaknesses(pb::GetUnitWeaknessesRequest { campaign_id: "r2".into(), unit_id: "city".into(), ..Default::default() })
            .await.unwrap().into_inner().indicators;
        weak.sort_by(|a, b| a.score.partial_cmp(&b.score).unwrap());
        weak.truncate(3);
        assert_eq!(b.weakest_indicators, weak);

        let rates = app
            .call_center_service(Role::Analyst, &[])
            .get_response_rates(pb::GetResponseRatesRequest { campaign_id: "r2".into(), unit_id: "city".into() })
            .await.unwrap().into_inner();
        assert_eq!(b.response_rates.as_ref(), Some(&rates));
        assert_eq!(rates.by_carrier.len(), 3, "the constructed calls span three carriers");
        let grievances = app
            .review_service(Role::Reviewer, &["city"])
            .get_grievance_summary(pb::GetGrievanceSummaryRequest { campaign_id: "r2".into(), unit_id: "city".into() })
            .await.unwrap().into_inner();
        assert_eq!(b.grievances.as_ref(), Some(&grievances));
        assert_eq!((grievances.raised, grievances.resolved), (2, 1));
    }

    async fn changes_are_marked_against_a_margin_recomputed_from_the_answers(app: TestApp) {
        load_two_rounds(&app).await;
        let b = get(&app, request("r2", "city")).await;
        let (before, after) = (city_points(ROUND_1), city_points(ROUND_2));
        let weights = [("security", 10.0), ("police", 4.0), ("visits", 4.0)];
        let mut verdicts = HashMap::new();
        for indicator in &b.indicators {
            let code = indicator.indicator_code.as_str();
            let (e1, e2) = (mean_estimate(&before[code]), mean_estimate(&after[code]));
            let change = indicator.change.as_ref().unwrap();
            assert!((change.change - (e2.mean - e1.mean)).abs() < 1e-9, "{code}");
            assert!((change.before.unwrap().standard_error.unwrap() - e1.spread.unwrap().0).abs() < 1e-9);
            assert_eq!(change.before.unwrap().sample_size, before[code].len() as i64);
            assert_eq!(change.after.unwrap().sample_size, after[code].len() as i64);
            assert_eq!(change.beyond_margin, beyond(&e1, &e2), "{code}");
            verdicts.insert(code.to_owned(), change.beyond_margin);
        }
        // The constructed data hold both cases: security beyond its margin, home visits
        // (about +5.6 points) within theirs.
        assert!(verdicts["security"]);
        assert!(!verdicts["visits"]);
        assert!(b.indicators.iter().find(|i| i.indicator_code == "visits").unwrap().change.unwrap().change > 0.0);
        assert_eq!(b.biggest_rise_indicator_code, "security");
        assert_ne!(b.biggest_rise_indicator_code, "visits");

        // The composite's margin uses the conservative bound Σ aᵢ·SEᵢ of each round.
        let bound = |points: &HashMap<&str, Vec<f64>>| {
            let parts: Vec<(f64, Estimate)> = weights.iter().map(|(c, w)| (*w, mean_estimate(&points[c]))).collect();
            let mean = parts.iter().map(|(w, e)| w * e.mean).sum::<f64>() / 18.0;
            (mean, conservative_bound(&parts).unwrap().0)
        };
        let ((m1, se1), (m2, se2)) = (bound(&before), bound(&after));
        let change = b.composite_change.unwrap();
        assert!((change.change - (m2 - m1)).abs() < 1e-9);
        let margin = 1.96 * se1.hypot(se2);
        assert!((change.margin_of_error.unwrap() - margin).abs() < 1e-9);
        assert_eq!(change.beyond_margin, (m2 - m1).abs() >= margin);
    }

    async fn a_first_round_gets_a_briefing_without_changes(app: TestApp) {
        load_two_rounds(&app).await;
        let b = get(&app, request("r1", "")).await;
        assert_eq!(b.compared_campaign_id, "");
        assert!(b.composite.is_some());
        assert!(b.composite_change.is_none());
        assert!(b.indicators.iter().all(|i| i.change.is_none() && i.estimate.is_some()));
        assert_eq!((b.biggest_rise_indicator_code.as_str(), b.biggest_fall_indicator_code.as_str()), ("", ""));
        for group in &b.peer_groups {
            assert!(group.risers.is_empty() && group.fallers.is_empty());
            assert!(group.top.iter().all(|e| e.change.is_none()));
            assert!(!group.laggards_known, "one round is fewer than the default two");
        }
        let mut one_round = request("r1", "");
        one_round.campaign_count = 1;
        let b = get(&app, one_round).await;
        assert!(b.peer_groups.iter().all(|g| g.laggards_known && g.laggard_campaign_ids == ["r1"]));

        // A township's briefing looks at its villages.
        let mut township = request("r2", "jinshi");
        township.top_n = 1;
        let b = get(&app, township).await;
        assert_eq!(b.scope_unit_name, "金石镇");
        assert_eq!(b.peer_groups.len(), 1);
        assert_eq!(b.peer_groups[0].top.len(), 1);
        assert_eq!(b.score, Some(unit_score(&app, "r2", "jinshi").await));
    }

    async fn analysts_and_admins_read_briefings_and_others_are_refused(app: TestApp) {
        load_two_rounds(&app).await;
        let status = briefings(&app, None).get_campaign_briefing(request("r2", "")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let status = briefings(&app, Some("not-a-token")).get_campaign_briefing(request("r2", "")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        for role in [Role::FieldWorker, Role::CallCenter, Role::Reviewer] {
            let token = app.token(role, &["city"]);
            let status = briefings(&app, Some(&token)).get_campaign_briefing(request("r2", "")).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        }
        let admin = app.token(Role::Admin, &[]);
        briefings(&app, Some(&admin)).get_campaign_briefing(request("r2", "")).await.expect("admins read briefings");
    }

    async fn bad_arguments_are_named_and_unknowns_not_found(app: TestApp) {
        load_two_rounds(&app).await;
        let mut client = analyst_briefings(&app);
        let status = client
            .get_campaign_briefing(pb::GetCampaignBriefingRequest {
                campaign_id: String::new(),
                scope_unit_id: "not a unit id!".into(),
                top_n: -1,
                campaign_count: 1000,
            })
            .await.unwrap_err();
        assert_eq!(violated_fields(&status), ["campaign_id", "scope_unit_id", "top_n", "campaign_count"]);
        let status = client.get_campaign_briefing(request("nope", "")).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let status = client.get_campaign_briefing(request("r2", "nowhere")).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let mut narrow = campaign("narrow", None, 1);
        narrow.scope_unit_id = "jinshi".into();
        app.create_campaign(narrow).await;
        let status = client.get_campaign_briefing(request("narrow", "dongshan")).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
    }
}
