//! Scores and rankings, checked against DOMAIN.md's worked examples and against an independent
//! recomputation from the raw stored answers.

use std::collections::HashMap;

use canvass::proto::v1 as pb;
use tonic::Code;

use crate::helpers::*;

/// Submits `count` visits to `unit`, each answering only `indicator` with `option`.
async fn submit_many(app: &TestApp, campaign: &str, unit: &str, answers: &[(&str, &str, usize)]) {
    let mut requests = Vec::new();
    for (indicator, option, count) in answers {
        for _ in 0..*count {
            requests.push(visit(campaign, unit, vec![answer(indicator, option)]));
        }
    }
    submit_all(app, requests).await;
}

/// Submits visits from a few concurrent clients.
async fn submit_all(app: &TestApp, requests: Vec<pb::SubmitVisitRequest>) {
    let chunks: Vec<Vec<_>> = requests
        .chunks(requests.len().div_ceil(8).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let mut client = app.field_worker(&["city"]);
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

fn indicator_score<'a>(score: &'a pb::UnitScore, code: &str) -> &'a pb::IndicatorScore {
    score
        .indicators
        .iter()
        .find(|i| i.indicator_code == code)
        .unwrap()
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 5e-5, "{actual} != {expected}");
}

/// DOMAIN.md's Wilson interval, written out: c ± h with z = 1.96.
fn wilson(successes: f64, n: f64) -> (f64, f64) {
    let z: f64 = 1.96;
    let p = successes / n;
    let c = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let h = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((c - h).max(0.0), (c + h).min(1.0))
}

/// Checks an indicator's top-three count, share and interval against `count` of `valid`.
fn assert_top_three(score: &pb::IndicatorScore, count: i64, valid: i64) {
    let top = score.top_three.as_ref().expect("a top-three share");
    assert_eq!((top.count, score.valid_count), (count, valid));
    assert_close(top.share.unwrap(), count as f64 / valid as f64);
    let interval = top.confidence_interval.unwrap();
    let (lower, upper) = wilson(count as f64, valid as f64);
    assert_close(interval.lower, lower);
    assert_close(interval.upper, upper);
}

async fn rankings(
    app: &TestApp,
    campaign: &str,
    scope: &str,
    kind: pb::UnitKind,
) -> pb::ListRankingsResponse {
    app.analyst()
        .list_rankings(pb::ListRankingsRequest {
            campaign_id: campaign.into(),
            scope_unit_id: scope.into(),
            unit_kind: kind.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Competition ranks recomputed independently: sort, then rank = 1 + count strictly better.
fn expected_ranks(scores: &[(String, Option<f64>)]) -> HashMap<String, i32> {
    let cents = |x: f64| (x * 100.0).round() as i64;
    scores
        .iter()
        .filter_map(|(unit, score)| {
            let s = (*score)?;
            let better = scores
                .iter()
                .filter(|(_, o)| o.is_some_and(|o| cents(o) > cents(s)))
                .count();
            Some((unit.clone(), 1 + better as i32))
        })
        .collect()
}

per_backend! {
    async fn worked_examples_one_and_two_exclude_dont_know(app: TestApp) {
        app.seed().await;
        submit_many(&app, "c1", "jinshi-v1", &[
            ("security", "a", 30), ("security", "b", 40), ("security", "c", 20),
            ("security", "d", 6), ("security", "e", 4), ("security", "dk", 10),
        ]).await;
        submit_many(&app, "c1", "jinshi-v2", &[
            ("police", "a", 12), ("police", "b", 20), ("police", "c", 8),
            ("police", "d", 5), ("police", "e", 3), ("police", "refused", 7),
        ]).await;

        let v1 = unit_score(&app, "c1", "jinshi-v1").await;
        let security = indicator_score(&v1, "security");
        assert_eq!((security.valid_count, security.excluded_count), (100, 10));
        assert_close(security.mean.unwrap(), 73.2);
        // Share answering one of the top three options (100, 80, 50): 90 of 100 valid answers.
        assert_top_three(security, 90, 100);
        assert_close(security.top_three.as_ref().unwrap().share.unwrap(), 0.9);
        assert_eq!(v1.submission_count, 110);
        assert_close(v1.composite_score.unwrap(), 73.2);
        assert_eq!(v1.unit_name, "金石一村");

        let v2 = unit_score(&app, "c1", "jinshi-v2").await;
        let police = indicator_score(&v2, "police");
        assert_eq!((police.valid_count, police.excluded_count), (48, 7));
        assert_close(police.mean.unwrap(), 72.5);
        // Top three are 100, 80 and 60: 12 + 20 + 8 of 48.
        assert_top_three(police, 40, 48);
        // "visits" has two scored options: every valid answer would be "top three".
        assert!(indicator_score(&v2, "visits").top_three.is_none());
        assert!(indicator_score(&v2, "security").top_three.as_ref().unwrap().share.is_none(), "no valid answers: absent");
        assert!(indicator_score(&v2, "security").mean.is_none(), "no valid answers: absent, not zero");

        // The township pools its villages' answers: composite = (10·73.2 + 4·72.5) / 14.
        let township = unit_score(&app, "c1", "jinshi").await;
        assert_eq!(township.submission_count, 165);
        assert_close(township.composite_score.unwrap(), (10.0 * 73.2 + 4.0 * 72.5) / 14.0);
        assert_top_three(indicator_score(&township, "security"), 90, 100);
        assert_top_three(indicator_score(&township, "police"), 40, 48);
        let city = unit_score(&app, "c1", "city").await;
        assert_eq!(city.submission_count, 165);
    }

    async fn top_three_share_has_the_worked_wilson_interval(app: TestApp) {
        app.seed().await;
        // 45 of 50 chose a top-three option -> [0.7864, 0.9565].
        submit_many(&app, "c1", "jinshi-v1", &[("security", "b", 45), ("security", "d", 5)]).await;
        let security = indicator_score(&unit_score(&app, "c1", "jinshi-v1").await, "security").clone();
        let interval = security.top_three.as_ref().unwrap().confidence_interval.unwrap();
        assert_close(interval.lower, 0.7864);
        assert_close(interval.upper, 0.9565);
        assert_top_three(&security, 45, 50);
        // 30 of 30 -> [0.8865, 1]; 0 of 30 -> [0, 0.1135].
        submit_many(&app, "c1", "jinshi-v2", &[("security", "a", 30), ("police", "e", 30)]).await;
        let v2 = unit_score(&app, "c1", "jinshi-v2").await;
        let all = indicator_score(&v2, "security").top_three.as_ref().unwrap().confidence_interval.unwrap();
        assert_close(all.lower, 0.8865);
        assert_close(all.upper, 1.0);
        let none = indicator_score(&v2, "police").top_three.as_ref().unwrap().confidence_interval.unwrap();
        assert_close(none.lower, 0.0);
        assert_close(none.upper, 0.1135);
        assert_scores_match_stored(&app, "c1").await;
    }

    async fn top_three_counts_of_older_aggregates_are_counted_at_start(app: TestApp) {
        let mut app = app;
        app.seed().await;
        submit_many(&app, "c1", "jinshi-v1", &[("security", "a", 7), ("security", "d", 3), ("police", "c", 4)]).await;
        submit_many(&app, "c1", "jinshi-v2", &[("police", "e", 2), ("police", "dk", 1)]).await;
        app.stop().await;
        forget_top_three(&app.database_url).await;

        let restarted = TestApp::spawn_with_database_url(app.database_url.clone(), |_| {}).await;
        let v1 = unit_score(&restarted, "c1", "jinshi-v1").await;
        assert_top_three(indicator_score(&v1, "security"), 7, 10);
        assert_top_three(indicator_score(&v1, "police"), 4, 4);
        let township = unit_score(&restarted, "c1", "jinshi").await;
        assert_top_three(indicator_score(&township, "police"), 4, 6);
        assert_scores_match_stored(&restarted, "c1").await;
        // Ingest adds to the counted rows.
        submit_many(&restarted, "c1", "jinshi-v1", &[("security", "b", 1)]).await;
        let v1 = unit_score(&restarted, "c1", "jinshi-v1").await;
        assert_top_three(indicator_score(&v1, "security"), 8, 11);
    }

    async fn confidence_interval_matches_the_worked_example(app: TestApp) {
        app.seed().await;
        // Police options a..e carry 100/80/60/40/0: points [100,80,80,60,100,40,80,100,60,80].
        submit_many(&app, "c1", "dongshan-c1", &[
            ("police", "a", 3), ("police", "b", 4), ("police", "c", 2), ("police", "d", 1),
        ]).await;
        let score = unit_score(&app, "c1", "dongshan-c1").await;
        let police = indicator_score(&score, "police");
        assert_close(police.mean.unwrap(), 78.0);
        assert_close(police.standard_error.unwrap(), 6.2893);
        let ci = police.confidence_interval.unwrap();
        assert_close(ci.lower, 63.7726);
        assert_close(ci.upper, 92.2274);

        submit_many(&app, "c1", "dongshan-c2", &[("visits", "a", 1)]).await;
        let single = unit_score(&app, "c1", "dongshan-c2").await;
        let visits = indicator_score(&single, "visits");
        assert_eq!(visits.mean, Some(100.0));
        assert!(visits.confidence_interval.is_none() && visits.standard_error.is_none());
    }

    async fn rankings_follow_the_worked_example_with_ties_and_changes(app: TestApp) {
        app.seed().await;
        use pb::UnitKind::Village;
        for (id, name) in [("jinshi-v3", "金石三村"), ("jinshi-v4", "金石四村"), ("jinshi-v5", "金石五村")] {
            app.create_unit(id, name, Village, Some("jinshi")).await;
        }
        app.create_campaign(campaign("c2", Some("c1"), 1)).await;
        // Only `visits` (a = 100, b = 0) is answered, so a unit's score is its share of "a":
        // 8 answers give steps of 12.5, enough to reproduce ties and distinct ranks.
        let plan = |campaign: &'static str, a_counts: [usize; 5]| {
            let app = &app;
            async move {
                for (unit, a) in ["jinshi-v1", "jinshi-v2", "jinshi-v3", "jinshi-v4", "jinshi-v5"].iter().zip(a_counts) {
                    submit_many(app, campaign, unit, &[("visits", "a", a), ("visits", "b", 8 - a)]).await;
                }
            }
        };
        // Round 1 scores: 87.5, 75, 75, 62.5, 50 -> ranks 1, 2, 2, 4, 5.
        plan("c1", [7, 6, 6, 5, 4]).await;
        // Round 2 scores: 75, 87.5, 62.5, 87.5, 50 -> ranks 3, 1, 4, 1, 5.
        plan("c2", [6, 7, 5, 7, 4]).await;

        let ranking = rankings(&app, "c2", "city", Village).await;
        assert_eq!(ranking.compared_campaign_id, "c1");
        let by_unit: HashMap<_, _> = ranking.entries.iter().map(|e| (e.unit_id.as_str(), e)).collect();
        let expect = [("jinshi-v1", 3, 1, -2), ("jinshi-v2", 1, 2, 1), ("jinshi-v3", 4, 2, -2), ("jinshi-v4", 1, 4, 3), ("jinshi-v5", 5, 5, 0)];
        for (unit, rank, previous, change) in expect {
            let e = by_unit[unit];
            assert_eq!((e.rank, e.previous_rank, e.rank_change), (Some(rank), Some(previous), Some(change)), "{unit}");
        }
        let order: Vec<_> = ranking.entries.iter().map(|e| e.unit_id.as_str()).collect();
        assert_eq!(order, ["jinshi-v2", "jinshi-v4", "jinshi-v1", "jinshi-v3", "jinshi-v5"]);

        // Pagination walks the same order.
        let mut analyst = app.analyst();
        let first = analyst
            .list_rankings(pb::ListRankingsRequest { campaign_id: "c2".into(), scope_unit_id: "city".into(), unit_kind: Village.into(), page_size: 2, page_token: String::new(), ..Default::default() })
            .await.unwrap().into_inner();
        let second = analyst
            .list_rankings(pb::ListRankingsRequest { campaign_id: "c2".into(), scope_unit_id: "city".into(), unit_kind: Village.into(), page_size: 2, page_token: first.next_page_token, ..Default::default() })
            .await.unwrap().into_inner();
        let paged: Vec<_> = first.entries.iter().chain(&second.entries).map(|e| e.unit_id.as_str()).collect();
        assert_eq!(paged, order[..4]);
    }

    async fn units_below_the_minimum_sample_are_reported_but_not_ranked(app: TestApp) {
        app.seed_units().await;
        app.create_questionnaire(standard_questionnaire()).await;
        app.create_campaign(campaign("c1", None, 5)).await;
        submit_many(&app, "c1", "dongshan-c1", &[("security", "a", 5)]).await;
        submit_many(&app, "c1", "dongshan-c2", &[("security", "a", 4)]).await;
        let small = unit_score(&app, "c1", "dongshan-c2").await;
        assert!(!small.sufficient_sample);
        assert_eq!(small.composite_score, Some(100.0));
        let ranking = rankings(&app, "c1", "city", pb::UnitKind::Community).await;
        let entries: Vec<_> = ranking.entries.iter().map(|e| (e.unit_id.as_str(), e.rank)).collect();
        assert_eq!(entries, [("dongshan-c1", Some(1)), ("dongshan-c2", None)]);
    }

    async fn scores_and_ranks_equal_a_recomputation_from_raw_answers(app: TestApp) {
        app.seed().await;
        use pb::UnitKind::*;
        for t in 1..=3 {
            let township = format!("t{t}");
            app.create_unit(&township, &format!("第{t}镇"), Township, Some("city")).await;
            for v in 1..=4 {
                app.create_unit(&format!("t{t}-v{v}"), &format!("第{t}镇{v}村"), Village, Some(&township)).await;
            }
        }
        app.create_campaign(campaign("c2", Some("c1"), 3)).await;
        let villages: Vec<String> = (1..=3).flat_map(|t| (1..=4).map(move |v| format!("t{t}-v{v}"))).collect();
        let options = [
            ("security", ["a", "b", "c", "d", "e", "dk", "refused"].as_slice()),
            ("police", ["a", "b", "c", "d", "e", "dk"].as_slice()),
            ("visits", ["a", "b", "dk"].as_slice()),
        ];
        // A fixed-seed generator keeps the workload reproducible.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for campaign_id in ["c1", "c2"] {
            let mut requests = Vec::new();
            for (i, village) in villages.iter().enumerate() {
                // Village 11 stays empty; village 10 stays under the minimum sample.
                let count = match i { 11 => 0, 10 => 2, _ => 3 + next(12) };
                for _ in 0..count {
                    let mut answers = Vec::new();
                    for (code, opts) in options {
                        if next(5) > 0 {
                            answers.push(answer(code, opts[next(opts.len())]));
                        }
                    }
                    let answers = if answers.is_empty() { vec![answer("visits", "a")] } else { answers };
                    requests.push(visit(campaign_id, village, answers));
                }
            }
            submit_all(&app, requests).await;
        }

        let members = |unit: &str| -> Vec<String> {
            match unit {
                "city" => villages.clone(),
                t if !t.contains("-v") => villages.iter().filter(|v| v.starts_with(&format!("{t}-"))).cloned().collect(),
                v => vec![v.to_string()],
            }
        };
        for campaign_id in ["c1", "c2"] {
            let stored = stored_submissions(&app, campaign_id).await;
            for unit in ["city", "t1", "t2", "t3"].into_iter().map(String::from).chain(villages.iter().cloned()) {
                let m = members(&unit);
                let expected = recompute(&stored, &m.iter().map(String::as_str).collect::<Vec<_>>());
                let actual = unit_score(&app, campaign_id, &unit).await;
                assert_eq!(actual.submission_count, expected.submissions, "{campaign_id}/{unit}");
                match (actual.composite_score, expected.composite) {
                    (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{campaign_id}/{unit}: {a} vs {e}"),
                    (a, e) => assert_eq!(a, e, "{campaign_id}/{unit}"),
                }
                for i in &actual.indicators {
                    match expected.means.get(&i.indicator_code) {
                        Some((n, mean)) => {
                            assert_eq!(i.valid_count, *n);
                            assert!((i.mean.unwrap() - mean).abs() < 1e-9);
                        }
                        None => assert_eq!((i.valid_count, i.mean), (0, None)),
                    }
                }
            }
        }

        // Rankings of villages in c2, with previous ranks from c1, recomputed independently.
        // The peers: every village under the city, including the seeded, empty jinshi-v1/v2.
        let peers: Vec<String> = villages.iter().cloned().chain(["jinshi-v1".into(), "jinshi-v2".into()]).collect();
        let mut ranks_in = HashMap::new();
        for (campaign_id, min_sample) in [("c2", 3), ("c1", 1)] {
            let stored = stored_submissions(&app, campaign_id).await;
            let scores: Vec<(String, Option<f64>)> = peers
                .iter()
                .map(|v| {
                    let e = recompute(&stored, &[v.as_str()]);
                    (v.clone(), e.composite.filter(|_| e.submissions >= min_sample))
                })
                .collect();
            ranks_in.insert(campaign_id, expected_ranks(&scores));
        }
        let (current, previous) = (&ranks_in["c2"], &ranks_in["c1"]);
        let ranking = rankings(&app, "c2", "city", Village).await;
        assert_eq!(ranking.entries.len(), peers.len());
        for e in &ranking.entries {
            assert_eq!(e.rank, current.get(&e.unit_id).copied(), "{}", e.unit_id);
            assert_eq!(e.previous_rank, previous.get(&e.unit_id).copied(), "{}", e.unit_id);
            let change = e.previous_rank.zip(e.rank).map(|(p, c)| p - c);
            assert_eq!(e.rank_change, change);
        }
        assert_eq!(ranking.entries.iter().find(|e| e.unit_id == "t3-v4").unwrap().rank, None);
        assert_eq!(ranking.entries.iter().find(|e| e.unit_id == "t3-v3").unwrap().rank, None);
    }

    async fn aggregate_requests_check_their_arguments(app: TestApp) {
        app.seed().await;
        let mut analyst = app.analyst();
        let status = analyst
            .get_unit_score(pb::GetUnitScoreRequest { campaign_id: "c1".into(), unit_id: "nowhere".into() })
            .await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let status = analyst
            .get_unit_score(pb::GetUnitScoreRequest { campaign_id: "".into(), unit_id: "City".into() })
            .await.unwrap_err();
        assert_eq!(violated_fields(&status), ["campaign_id", "unit_id"]);
        let status = analyst
            .list_rankings(pb::ListRankingsRequest { campaign_id: "c1".into(), scope_unit_id: "city".into(), unit_kind: 42, page_size: 0, page_token: String::new(), ..Default::default() })
            .await.unwrap_err();
        assert_eq!(violated_fields(&status), ["unit_kind"]);
        let empty = unit_score(&app, "c1", "city").await;
        assert_eq!((empty.submission_count, empty.composite_score), (0, None));
    }
}

/// Leaves the aggregate rows as a server from before top-three counts wrote them.
async fn forget_top_three(database_url: &str) {
    use sqlx::Connection;
    let forget = "UPDATE cell_stats SET top_three = NULL";
    if database_url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query(forget).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query(forget).execute(&mut conn).await.unwrap();
    }
}
