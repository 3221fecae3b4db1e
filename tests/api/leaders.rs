//! The questions leaders ask: breakdowns, weighted estimates, rankings by indicator with top and
//! bottom filters, persistent laggards, movers, weaknesses, history and live updates.

use std::time::Duration;

use canvass::proto::v1 as pb;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::helpers::*;

/// Sends visits concurrently from a few clients.
async fn send_visits(app: &TestApp, requests: Vec<pb::SubmitVisitRequest>) {
    let mut tasks = Vec::new();
    for chunk in requests.chunks(requests.len().div_ceil(8).max(1)) {
        let mut client = app.field_worker(&["city"]);
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for r in chunk {
                client.submit_visit(r).await.expect("visit accepted");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn send_polls(app: &TestApp, requests: Vec<pb::SubmitPhonePollRequest>) {
    let mut tasks = Vec::new();
    for chunk in requests.chunks(requests.len().div_ceil(8).max(1)) {
        let mut client = app.call_center(&["city"]);
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for r in chunk {
                client.submit_phone_poll(r).await.expect("poll accepted");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// `count` visits to `unit` answering `visits` with "a" (100 points) `a` times, else "b" (0).
fn village_visits(
    campaign: &str,
    unit: &str,
    count: usize,
    a: usize,
) -> Vec<pb::SubmitVisitRequest> {
    (0..count)
        .map(|i| {
            visit(
                campaign,
                unit,
                vec![
                    answer("visits", if i < a { "a" } else { "b" }),
                    answer("security", "a"),
                ],
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 5e-5
}

/// A weighting margin: `dimension` with each level's population share.
fn margin(dimension: &str, levels: &[(&str, f64)]) -> pb::Margin {
    pb::Margin {
        dimension: dimension.into(),
        levels: levels
            .iter()
            .map(|(value, share)| pb::MarginLevel {
                value: (*value).into(),
                share: *share,
                ..Default::default()
            })
            .collect(),
    }
}

/// A visit answering `indicator` with `option`, from a respondent with `attributes`.
fn visit_from(
    campaign: &str,
    unit: &str,
    (indicator, option): (&str, &str),
    attributes: &[(&str, &str)],
) -> pb::SubmitVisitRequest {
    let mut r = visit(campaign, unit, vec![answer(indicator, option)]);
    r.respondent_attributes = attributes
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    r
}

fn number(i: usize) -> String {
    format!("+86139{:08}", i)
}

fn rankings_request(campaign: &str, kind: pb::UnitKind) -> pb::ListRankingsRequest {
    pb::ListRankingsRequest {
        campaign_id: campaign.into(),
        scope_unit_id: "city".into(),
        unit_kind: kind.into(),
        ..Default::default()
    }
}

/// Adds villages v1..v6 under jinshi (besides the seeded jinshi-v1/v2).
async fn add_villages(app: &TestApp) {
    for i in 1..=6 {
        app.create_unit(
            &format!("v{i}"),
            &format!("{i}号村"),
            pb::UnitKind::Village,
            Some("jinshi"),
        )
        .await;
    }
}

per_backend! {
    async fn breakdowns_split_channels_and_carriers(app: TestApp) {
        app.seed().await;
        send_visits(&app, (0..4).map(|_| visit("c1", "jinshi-v1", vec![answer("security", "a")])).collect()).await;
        let mut polls = Vec::new();
        for (i, (carrier, option)) in [(pb::Carrier::ChinaMobile, "b"), (pb::Carrier::ChinaMobile, "b"), (pb::Carrier::ChinaUnicom, "e")].into_iter().enumerate() {
            let mut p = phone_poll("c1", "jinshi-v2", &number(i), vec![answer("security", option)]);
            p.carrier = carrier.into();
            polls.push(p);
        }
        send_polls(&app, polls).await;
        let score = unit_score(&app, "c1", "jinshi").await;
        assert_eq!(score.submission_count, 7);
        let find = |channel: pb::Channel, carrier: pb::Carrier| {
            score.breakdowns.iter().find(|b| b.channel() == channel && b.carrier() == carrier).unwrap_or_else(|| panic!("{channel:?} {carrier:?}"))
        };
        let visits = find(pb::Channel::Visit, pb::Carrier::Unspecified);
        assert_eq!((visits.submission_count, visits.composite_score), (4, Some(100.0)));
        let phone = find(pb::Channel::Phone, pb::Carrier::Unspecified);
        assert_eq!(phone.submission_count, 3);
        assert!(close(phone.composite_score.unwrap(), (80.0 + 80.0 + 0.0) / 3.0));
        let mobile = find(pb::Channel::Phone, pb::Carrier::ChinaMobile);
        assert_eq!((mobile.submission_count, mobile.composite_score), (2, Some(80.0)));
        let unicom = find(pb::Channel::Phone, pb::Carrier::ChinaUnicom);
        assert_eq!((unicom.submission_count, unicom.composite_score), (1, Some(0.0)));
        assert_eq!(score.breakdowns.len(), 4, "slices without submissions are left out");
        assert!(close(score.composite_score.unwrap(), (400.0 + 160.0) / 7.0));
    }

    async fn carrier_post_stratification_matches_the_worked_example(app: TestApp) {
        app.seed_units().await;
        let mut q = standard_questionnaire();
        q.id = "qc".into();
        q.indicators = vec![pb::Indicator {
            code: "overall".into(),
            text: "总体满意度".into(),
            weight: 1.0,
            options: vec![scored("p70", 70), scored("p75", 75), scored("p80", 80)],
        }];
        app.create_questionnaire(q).await;
        let mut c = campaign("weighted", None, 30);
        c.questionnaire_id = "qc".into();
        let total = 658_000.0;
        c.weighting = Some(pb::Weighting {
            method: pb::WeightingMethod::PostStratification.into(),
            margins: vec![margin("carrier", &[
                ("CARRIER_CHINA_TELECOM", 58_000.0 / total),
                ("CARRIER_CHINA_MOBILE", 360_000.0 / total),
                ("CARRIER_CHINA_UNICOM", 240_000.0 / total),
            ])],
        });
        app.create_campaign(c).await;
        let mut polls = Vec::new();
        for (carrier, count, option) in [(pb::Carrier::ChinaTelecom, 60, "p70"), (pb::Carrier::ChinaMobile, 200, "p80"), (pb::Carrier::ChinaUnicom, 140, "p75")] {
            for _ in 0..count {
                let mut p = phone_poll("weighted", "jinshi-v1", &number(polls.len()), vec![answer("overall", option)]);
                p.carrier = carrier.into();
                polls.push(p);
            }
        }
        // A visit has no carrier: it counts unweighted but is outside the weighted base.
        send_visits(&app, vec![visit("weighted", "jinshi-v1", vec![answer("overall", "p70")])]).await;
        send_polls(&app, polls).await;
        let score = unit_score(&app, "weighted", "city").await;
        assert_eq!(score.submission_count, 401);
        assert_eq!(score.weighted_submission_count, 400);
        let overall = &score.indicators[0];
        let weighted = overall.weighted.as_ref().unwrap();
        assert!(close(weighted.mean, 77.2948), "{weighted:?}");
        assert!(close(weighted.effective_sample_size, 388.1361), "{weighted:?}");
        assert!(close(score.weighted_composite_score.unwrap(), 77.2948));
        assert!(close(score.effective_sample_size.unwrap(), 388.1361));
        assert!(close(overall.mean.unwrap(), (60.0 * 70.0 + 200.0 * 80.0 + 140.0 * 75.0 + 70.0) / 401.0));
    }

    async fn weighted_top_three_share_reproduces_the_post_stratification_example(app: TestApp) {
        app.seed().await;
        let mut c = campaign("aged", None, 1);
        c.weighting = Some(pb::Weighting {
            method: pb::WeightingMethod::PostStratification.into(),
            margins: vec![margin("age", &[("16-39", 0.45), ("40+", 0.55)])],
        });
        app.create_campaign(c).await;
        // DOMAIN.md: 30 aged 16-39 and 70 aged 40+, satisfied 0.60 and 0.90. "Satisfied" is a
        // top-three option of security (100, 80, 50 of 100/80/50/20/0).
        let mut requests = Vec::new();
        for (age, option, count) in [("16-39", "a", 18), ("16-39", "e", 12), ("40+", "b", 63), ("40+", "d", 7)] {
            for _ in 0..count {
                requests.push(visit_from("aged", "jinshi-v1", ("security", option), &[("age", age)]));
            }
        }
        send_visits(&app, requests).await;
        let score = unit_score(&app, "aged", "jinshi").await;
        let security = score.indicators.iter().find(|i| i.indicator_code == "security").unwrap();
        let top = security.top_three.as_ref().unwrap();
        assert_eq!((top.count, security.valid_count), (81, 100));
        assert!(close(top.share.unwrap(), 0.81), "{top:?}");
        let weighted = top.weighted.as_ref().unwrap();
        assert!(close(weighted.mean, 0.765), "{weighted:?}");
    }

    async fn raking_by_respondent_attributes(app: TestApp) {
        app.seed().await;
        let mut c = campaign("raked", None, 1);
        c.weighting = Some(pb::Weighting {
            method: pb::WeightingMethod::Raking.into(),
            margins: vec![
                margin("sex", &[("M", 0.49), ("F", 0.51)]),
                margin("area", &[("urban", 0.40), ("rural", 0.60)]),
            ],
        });
        app.create_campaign(c).await;
        let mut requests = Vec::new();
        for (sex, area, count) in [("M", "urban", 20), ("M", "rural", 30), ("F", "urban", 25), ("F", "rural", 25)] {
            for _ in 0..count {
                requests.push(visit_from("raked", "dongshan-c1", ("visits", "a"), &[("sex", sex), ("area", area)]));
            }
        }
        send_visits(&app, requests).await;
        let score = unit_score(&app, "raked", "dongshan").await;
        assert_eq!(score.weighted_submission_count, 100);
        assert!(close(score.effective_sample_size.unwrap(), 98.9094), "{:?}", score.effective_sample_size);

        // A level the campaign does not define is refused, naming the attribute.
        let bad = visit_from("raked", "dongshan-c1", ("visits", "a"), &[("sex", "unknown")]);
        let status = app.field_worker(&["city"]).submit_visit(bad).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["respondent_attributes[sex]"]);

        // Margins whose shares do not sum to 1 are refused.
        let mut broken = campaign("broken", None, 1);
        broken.weighting = Some(pb::Weighting {
            method: pb::WeightingMethod::PostStratification.into(),
            margins: vec![margin("sex", &[("M", 0.7)])],
        });
        let status = app.admin_catalog().create_campaign(pb::CreateCampaignRequest { campaign: Some(broken) }).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["campaign.weighting.margins[0].levels"]);
    }

    async fn rankings_by_indicator_with_top_and_bottom_filters(app: TestApp) {
        app.seed().await;
        add_villages(&app).await;
        // visits scores: v1 100, v2 75, v3 75, v4 50, v5 25, v6 0 (4 answers each).
        let mut requests = Vec::new();
        for (i, a) in [4, 3, 3, 2, 1, 0].into_iter().enumerate() {
            requests.extend(village_visits("c1", &format!("v{}", i + 1), 4, a));
        }
        send_visits(&app, requests).await;
        let mut analyst = app.analyst();
        let mut by_visits = rankings_request("c1", pb::UnitKind::Village);
        by_visits.indicator_code = "visits".into();
        let all = analyst.list_rankings(by_visits.clone()).await.unwrap().into_inner();
        let ranks: Vec<_> = all.entries.iter().map(|e| (e.unit_id.as_str(), e.rank)).collect();
        assert_eq!(ranks[..6], [("v1", Some(1)), ("v2", Some(2)), ("v3", Some(2)), ("v4", Some(4)), ("v5", Some(5)), ("v6", Some(6))]);
        assert_eq!((all.peer_count, all.ranked_count), (8, 6));

        let mut top = by_visits.clone();
        top.top_n = 2;
        let top = analyst.list_rankings(top).await.unwrap().into_inner();
        let ids: Vec<_> = top.entries.iter().map(|e| e.unit_id.as_str()).collect();
        assert_eq!(ids, ["v1", "v2", "v3"], "ties at the cut are included");

        let mut bottom = by_visits.clone();
        bottom.bottom_n = 2;
        let bottom = analyst.list_rankings(bottom).await.unwrap().into_inner();
        let ids: Vec<_> = bottom.entries.iter().map(|e| e.unit_id.as_str()).collect();
        assert_eq!(ids, ["v5", "v6"]);

        let mut both = by_visits.clone();
        both.top_n = 1;
        both.bottom_n = 1;
        assert_eq!(violated_fields(&analyst.list_rankings(both).await.unwrap_err()), ["bottom_n"]);
        let mut unknown = by_visits;
        unknown.indicator_code = "weather".into();
        assert_eq!(violated_fields(&analyst.list_rankings(unknown).await.unwrap_err()), ["indicator_code"]);
    }

    async fn laggards_movers_weaknesses_and_history(app: TestApp) {
        app.seed().await;
        add_villages(&app).await;
        app.create_campaign(campaign("c2", Some("c1"), 1)).await;
        app.create_campaign(campaign("c3", Some("c2"), 1)).await;
        // visits "a" counts (of 4) per round for v1..v6.
        let rounds = [("c1", [4, 3, 2, 1, 0, 2]), ("c2", [3, 4, 2, 0, 1, 4]), ("c3", [4, 2, 3, 1, 0, 3])];
        let mut requests = Vec::new();
        for (campaign_id, counts) in rounds {
            for (i, a) in counts.into_iter().enumerate() {
                requests.extend(village_visits(campaign_id, &format!("v{}", i + 1), 4, a));
            }
        }
        send_visits(&app, requests).await;
        let mut analyst = app.analyst();

        // Bottom two in each of c3 and c2: v4 and v5 (c3: v5 0, v4 25; c2: v4 0, v5 25).
        let laggards = analyst
            .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
                campaign_id: "c3".into(), scope_unit_id: "city".into(), unit_kind: pb::UnitKind::Village.into(),
                bottom_n: 2, campaign_count: 2, indicator_code: String::new(), ..Default::default()
            })
            .await.unwrap().into_inner();
        assert_eq!(laggards.campaign_ids, ["c3", "c2"]);
        let ids: Vec<_> = laggards.entries.iter().map(|e| e.unit_id.as_str()).collect();
        assert_eq!(ids, ["v5", "v4"], "worst first");
        assert_eq!(laggards.entries[0].standings.len(), 2);
        // Over all three rounds v3 is never bottom two, v5 always is.
        let three = analyst
            .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
                campaign_id: "c3".into(), scope_unit_id: "city".into(), unit_kind: pb::UnitKind::Village.into(),
                bottom_n: 2, campaign_count: 3, indicator_code: String::new(), ..Default::default()
            })
            .await.unwrap().into_inner();
        let ids: Vec<_> = three.entries.iter().map(|e| e.unit_id.as_str()).collect();
        assert_eq!(ids, ["v5", "v4"]);
        let status = analyst
            .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
                campaign_id: "c3".into(), scope_unit_id: "city".into(), unit_kind: pb::UnitKind::Village.into(),
                bottom_n: 2, campaign_count: 4, indicator_code: String::new(), ..Default::default()
            })
            .await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);

        // c1 -> c2 composite ranks (security is 100 everywhere, so visits decides):
        // v1 1 -> 3, v2 2 -> 1, v3 3 -> 4, v4 5 -> 6, v5 6 -> 5, v6 3 -> 1 (tied with v2).
        let movers = analyst
            .list_rank_movers(pb::ListRankMoversRequest {
                campaign_id: "c2".into(), baseline_campaign_id: String::new(), scope_unit_id: "city".into(),
                unit_kind: pb::UnitKind::Village.into(), limit: 2, indicator_code: String::new(), ..Default::default()
            })
            .await.unwrap().into_inner();
        assert_eq!(movers.baseline_campaign_id, "c1");
        let risers: Vec<_> = movers.risers.iter().map(|e| (e.unit_id.as_str(), e.rank_change)).collect();
        assert_eq!(risers, [("v6", Some(2)), ("v2", Some(1))]);
        let fallers: Vec<_> = movers.fallers.iter().map(|e| (e.unit_id.as_str(), e.rank_change)).collect();
        assert_eq!(fallers, [("v1", Some(-2)), ("v4", Some(-1))]);

        // v4 in c3: security ties everyone (rank 1), visits 25 is fifth of six.
        let weak = analyst
            .get_unit_weaknesses(pb::GetUnitWeaknessesRequest { campaign_id: "c3".into(), unit_id: "v4".into(), ..Default::default() })
            .await.unwrap().into_inner();
        let order: Vec<_> = weak.indicators.iter().map(|i| (i.indicator_code.as_str(), i.rank)).collect();
        assert_eq!(order, [("visits", Some(5)), ("security", Some(1)), ("police", None)]);
        let visits = &weak.indicators[0];
        assert_eq!(visits.ranked_count, 6);
        assert!(close(visits.peer_mean.unwrap(), (100.0 + 50.0 + 75.0 + 25.0 + 0.0 + 75.0) / 6.0));

        let history = analyst.get_unit_history(pb::GetUnitHistoryRequest { unit_id: "v6".into(), ..Default::default() }).await.unwrap().into_inner();
        let points: Vec<_> = history.points.iter().map(|p| (p.campaign_id.as_str(), p.submission_count, p.rank)).collect();
        assert_eq!(points, [("c1", 4, Some(3)), ("c2", 4, Some(1)), ("c3", 4, Some(2))]);
        assert!(close(history.points[1].composite_score.unwrap(), 100.0));
    }

    async fn watch_streams_send_the_state_then_each_change(app: TestApp) {
        app.seed().await;
        let mut analyst = app.analyst();
        let mut scores = analyst
            .watch_unit_score(pb::WatchUnitScoreRequest { campaign_id: "c1".into(), unit_id: "jinshi".into() })
            .await.unwrap().into_inner();
        let mut ranking_request = pb::WatchRankingsRequest { campaign_id: "c1".into(), scope_unit_id: "city".into(), unit_kind: pb::UnitKind::Village.into(), ..Default::default() };
        let mut rankings = analyst.watch_rankings(ranking_request.clone()).await.unwrap().into_inner();
        // A stream nobody reads must not hold up ingestion.
        let _stalled = app.analyst().watch_unit_score(pb::WatchUnitScoreRequest { campaign_id: "c1".into(), unit_id: "city".into() }).await.unwrap();

        let first = scores.next().await.unwrap().unwrap();
        assert_eq!(first.submission_count, 0);
        let first_ranking = rankings.next().await.unwrap().unwrap();
        assert!(first_ranking.entries.iter().all(|e| e.rank.is_none()));

        send_visits(&app, (0..50).map(|_| visit("c1", "jinshi-v1", vec![answer("security", "b")])).collect()).await;
        // Updates are coalesced: keep reading until the stream reports all 50 (bounded wait).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let update = tokio::time::timeout_at(deadline, scores.next()).await.expect("update in time").unwrap().unwrap();
            assert!(update.submission_count > 0);
            if update.submission_count == 50 {
                assert_eq!(update.composite_score, Some(80.0));
                break;
            }
        }
        loop {
            let update = tokio::time::timeout_at(deadline, rankings.next()).await.expect("update in time").unwrap().unwrap();
            if update.entries[0].unit_id == "jinshi-v1" && update.entries[0].submission_count == 50 {
                assert_eq!(update.entries[0].rank, Some(1));
                break;
            }
        }
        // Submissions to another campaign do not wake this stream.
        app.create_campaign(campaign("other", None, 1)).await;
        send_visits(&app, vec![visit("other", "jinshi-v1", vec![answer("security", "a")])]).await;
        assert!(tokio::time::timeout(Duration::from_millis(800), scores.next()).await.is_err());

        // Bad arguments fail the call itself.
        ranking_request.unit_kind = 42;
        let status = analyst.watch_rankings(ranking_request).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["unit_kind"]);
    }
}

/// Two server processes on one fresh PostgreSQL database, seeded, and a live score stream of
/// jinshi on the first; `None` when PostgreSQL is unavailable here.
async fn two_processes_watching() -> Option<(TestApp, TestApp, tonic::Streaming<pb::UnitScore>)> {
    let first = TestApp::spawn(Backend::Postgres).await?;
    first.seed().await;
    let second = TestApp::spawn_with_database_url(first.database_url.clone(), |_| {}).await;
    let scores = watch_jinshi(&first).await;
    Some((first, second, scores))
}

/// A live score stream of township jinshi in campaign c1, past its first (empty) message.
async fn watch_jinshi(app: &TestApp) -> tonic::Streaming<pb::UnitScore> {
    let mut scores = app
        .analyst()
        .watch_unit_score(pb::WatchUnitScoreRequest {
            campaign_id: "c1".into(),
            unit_id: "jinshi".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scores.next().await.unwrap().unwrap().submission_count, 0);
    scores
}

/// The first update of `scores` that counts `n` submissions; fails after 10 s.
async fn wait_for_count(scores: &mut tonic::Streaming<pb::UnitScore>, n: i64) -> pb::UnitScore {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let update = tokio::time::timeout_at(deadline, scores.next())
            .await
            .expect("update in time")
            .unwrap()
            .unwrap();
        if update.submission_count == n {
            return update;
        }
    }
}

/// Server processes sharing one PostgreSQL database: a live stream on one hears the visits
/// another accepts. (With SQLite a server is the only process on its database.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_hear_other_processes_on_postgres() {
    let Some((_first, second, mut scores)) = two_processes_watching().await else {
        return;
    };

    send_visits(
        &second,
        (0..5)
            .map(|_| visit("c1", "jinshi-v1", vec![answer("security", "b")]))
            .collect(),
    )
    .await;
    let update = wait_for_count(&mut scores, 5).await;
    assert_eq!(update.composite_score, Some(80.0));
}

/// Turns new connections to the app's database away (`hold`) or lets them in again; with
/// connections turned away, it ends the change listeners' connections once they are open.
async fn hold_listeners_off(app: &TestApp, hold: bool) {
    use sqlx::Connection;
    let database = app
        .database_url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap();
    // Connections to the database itself cannot turn others away.
    let admin_url = crate::pg_cluster::with_database(&app.database_url, "postgres");
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    // The test harness generated the name, so the statement is safe to assemble.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {database} ALLOW_CONNECTIONS {}",
        !hold
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    if hold {
        loop {
            let ended: i64 = sqlx::query_scalar(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
            )
            .bind(database)
            .bind(canvass::store::LISTENER_APPLICATION_NAME)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            if ended > 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no listener found");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    conn.close().await.ok();
}

/// Announcements made while a process's listener is reconnecting go unheard; its watchers
/// recompute once it listens again, so they still see what another process accepted meanwhile.
#[tokio::test]
async fn watch_streams_catch_up_after_the_listener_reconnects() {
    let Some((first, second, mut scores)) = two_processes_watching().await else {
        return;
    };

    // The test hears the announcements itself, on a connection opened before new ones are
    // turned away and not named as the servers' listeners are, so it stays open.
    let mut announcements = sqlx::postgres::PgListener::connect(&first.database_url)
        .await
        .unwrap();
    // The servers' channel (`CHANGES_CHANNEL`, private to src/store/postgres.rs).
    announcements.listen("canvass_changes").await.unwrap();

    // The servers keep the pooled connections they already hold; only the listeners are cut
    // off. The second server's visits are announced while nobody listens.
    hold_listeners_off(&first, true).await;
    send_visits(
        &second,
        (0..5)
            .map(|_| visit("c1", "jinshi-v1", vec![answer("security", "b")]))
            .collect(),
    )
    .await;
    // Payloads read "<process>/<campaign>"; only the second server commits meanwhile.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let heard = announcements.recv().await.unwrap();
            if heard.payload().split_once('/').map(|(_, c)| c) == Some("c1") {
                break;
            }
        }
    })
    .await
    .expect("the second server announces its visits");
    hold_listeners_off(&first, false).await;

    wait_for_count(&mut scores, 5).await;
}

/// A process that stops right after committing still announces its last commits, so watchers
/// on the other processes do not stay behind.
#[tokio::test]
async fn watch_streams_hear_the_last_commits_of_a_stopping_process() {
    let Some((_first, mut second, mut scores)) = two_processes_watching().await else {
        return;
    };

    send_visits(
        &second,
        (0..3)
            .map(|_| visit("c1", "jinshi-v1", vec![answer("security", "b")]))
            .collect(),
    )
    .await;
    second.stop().await;

    wait_for_count(&mut scores, 3).await;
}
