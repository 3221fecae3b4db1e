//! Peer groups and levels: a province ranks its county-level units (by composite and by one
//! indicator), a county ranks its townships and sub-districts in one sequence and its departments
//! apart, every ranking method takes a peer group and says which kinds it compared, filters leave
//! the peer counts alone, and a history shows the score its rank was decided by. Expected figures
//! are recomputed from the raw answers.

use std::collections::BTreeMap;

use canvass::proto::v1 as pb;
use pb::UnitKind as K;
use tokio_stream::StreamExt;

use crate::helpers::*;

/// A province with two prefectures and five counties (ca2 a county-level city), township-level
/// units above villages and communities, and departments of a prefecture and of a county,
/// parents first: (id, name, kind, parent).
///
/// ```text
/// prov 示范省
/// ├── pf-a 甲市 (prefecture) ── pf-a-dept 甲市信访局
/// │   ├── ca1 乙县 ── ca1-t1 金石镇 (v1, v2), ca1-t2 金薮乡 (v1), ca1-s1 东山办事处 (c1, c2),
/// │   │             ca1-s2 望春门办事处 (c1), ca1-dept 县信访局
/// │   └── ca2 丙市 (county-level city) ── ca2-t1 中沙镇 (v1), ca2-s1 梅桥街道 (c1)
/// └── pf-b 丁市 (prefecture)
///     ├── cb1 戊县 ── cb1-t1 棋梓镇 (v1), cb1-s1 月山街道 (c1)
///     ├── cb2 己区 ── cb2-t1 龙洞镇 (v1, v2)
///     └── cb3 庚县 ── cb3-t1 毛田镇 (v1): too few interviews to be ranked
/// ```
const PROVINCE: &[(&str, &str, K, Option<&str>)] = &[
    ("prov", "示范省", K::Province, None),
    ("pf-a", "甲市", K::Prefecture, Some("prov")),
    ("pf-a-dept", "甲市信访局", K::Department, Some("pf-a")),
    ("ca1", "乙县", K::County, Some("pf-a")),
    ("ca1-t1", "金石镇", K::Township, Some("ca1")),
    ("ca1-t1-v1", "金石一村", K::Village, Some("ca1-t1")),
    ("ca1-t1-v2", "金石二村", K::Village, Some("ca1-t1")),
    ("ca1-t2", "金薮乡", K::Township, Some("ca1")),
    ("ca1-t2-v1", "金薮一村", K::Village, Some("ca1-t2")),
    ("ca1-s1", "东山办事处", K::Subdistrict, Some("ca1")),
    ("ca1-s1-c1", "东山一社区", K::Community, Some("ca1-s1")),
    ("ca1-s1-c2", "东山二社区", K::Community, Some("ca1-s1")),
    ("ca1-s2", "望春门办事处", K::Subdistrict, Some("ca1")),
    ("ca1-s2-c1", "望春门社区", K::Community, Some("ca1-s2")),
    ("ca1-dept", "县信访局", K::Department, Some("ca1")),
    ("ca2", "丙市", K::County, Some("pf-a")),
    ("ca2-t1", "中沙镇", K::Township, Some("ca2")),
    ("ca2-t1-v1", "中沙一村", K::Village, Some("ca2-t1")),
    ("ca2-s1", "梅桥街道", K::Subdistrict, Some("ca2")),
    ("ca2-s1-c1", "梅桥社区", K::Community, Some("ca2-s1")),
    ("pf-b", "丁市", K::Prefecture, Some("prov")),
    ("cb1", "戊县", K::County, Some("pf-b")),
    ("cb1-t1", "棋梓镇", K::Township, Some("cb1")),
    ("cb1-t1-v1", "棋梓一村", K::Village, Some("cb1-t1")),
    ("cb1-s1", "月山街道", K::Subdistrict, Some("cb1")),
    ("cb1-s1-c1", "月山社区", K::Community, Some("cb1-s1")),
    ("cb2", "己区", K::County, Some("pf-b")),
    ("cb2-t1", "龙洞镇", K::Township, Some("cb2")),
    ("cb2-t1-v1", "龙洞一村", K::Village, Some("cb2-t1")),
    ("cb2-t1-v2", "龙洞二村", K::Village, Some("cb2-t1")),
    ("cb3", "庚县", K::County, Some("pf-b")),
    ("cb3-t1", "毛田镇", K::Township, Some("cb3")),
    ("cb3-t1-v1", "毛田一村", K::Village, Some("cb3-t1")),
];

/// The provincial rounds; the second is compared with the first.
const ROUNDS: [&str; 2] = ["p1", "p2"];
const MIN_SAMPLE: i64 = 3;

/// Expected figures of every unit of [`PROVINCE`] in each round: (round, unit) -> figures.
type ExpectedFigures = BTreeMap<(&'static str, &'static str), Expected>;

fn kinds(kinds: &[K]) -> Vec<i32> {
    kinds.iter().map(|k| i32::from(*k)).collect()
}

/// The units of `kinds` anywhere under `scope` in [`PROVINCE`], the scope excluded.
fn units_of(kinds: &[K], scope: &str) -> Vec<&'static str> {
    let under = subtree_of(&tree(), scope);
    PROVINCE
        .iter()
        .filter(|(id, _, kind, _)| kinds.contains(kind) && *id != scope && under.contains(id))
        .map(|(id, ..)| *id)
        .collect()
}

fn tree() -> Vec<(&'static str, Option<&'static str>)> {
    PROVINCE.iter().map(|(id, _, _, p)| (*id, *p)).collect()
}

/// A campaign over the province.
fn provincial(id: &str, compared: Option<&str>) -> pb::Campaign {
    pb::Campaign {
        scope_unit_id: "prov".into(),
        ..campaign(id, compared, MIN_SAMPLE as u32)
    }
}

async fn send(app: &TestApp, requests: Vec<pb::SubmitVisitRequest>) {
    let mut tasks = Vec::new();
    for chunk in requests.chunks(requests.len().div_ceil(6).max(1)) {
        let mut client = app.field_worker(&["prov", "city"]);
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

/// Creates [`PROVINCE`], the standard questionnaire and both rounds, sends a fixed-seed workload
/// of visits to every village, community and department, and recomputes every unit's figures
/// from the stored rows.
async fn seed_province(app: &TestApp) -> ExpectedFigures {
    for (id, name, kind, parent) in PROVINCE {
        app.create_unit(id, name, *kind, *parent).await;
    }
    app.create_questionnaire(standard_questionnaire()).await;
    app.create_campaign(provincial("p1", None)).await;
    app.create_campaign(provincial("p2", Some("p1"))).await;
    let options = [
        (
            "security",
            ["a", "b", "c", "d", "e", "dk", "refused"].as_slice(),
        ),
        ("police", ["a", "b", "c", "d", "e", "dk"].as_slice()),
        ("visits", ["a", "b", "dk"].as_slice()),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let surveyed = units_of(&[K::Village, K::Community, K::Department], "prov");
    for round in ROUNDS {
        let mut requests = Vec::new();
        for unit in &surveyed {
            let count = if *unit == "cb3-t1-v1" { 2 } else { 3 + next(6) };
            for _ in 0..count {
                let mut answers = Vec::new();
                for (code, opts) in options {
                    if next(5) > 0 {
                        answers.push(answer(code, opts[next(opts.len())]));
                    }
                }
                if answers.is_empty() {
                    answers.push(answer("security", "b"));
                }
                requests.push(visit(round, unit, answers));
            }
        }
        send(app, requests).await;
    }
    let tree = tree();
    let mut expected = ExpectedFigures::new();
    for round in ROUNDS {
        let stored = stored_submissions(app, round).await;
        for (unit, ..) in PROVINCE {
            expected.insert((round, *unit), recompute(&stored, &subtree_of(&tree, unit)));
        }
    }
    expected
}

/// The composite of a unit's expected figures.
fn composite(e: &Expected) -> Option<f64> {
    e.composite
}

/// Ranks of `units` in `round` on `value`, recomputed; units below the minimum sample are not
/// ranked.
fn ranks_of(
    figures: &ExpectedFigures,
    round: &'static str,
    units: &[&'static str],
    value: impl Fn(&Expected) -> Option<f64>,
) -> BTreeMap<String, i32> {
    let scores: Vec<(&str, Option<f64>)> = units
        .iter()
        .map(|u| {
            let e = &figures[&(round, *u)];
            (*u, value(e).filter(|_| e.submissions >= MIN_SAMPLE))
        })
        .collect();
    expected_ranks(&scores)
}

fn request(campaign: &str, scope: &str, unit_kinds: &[K]) -> pb::ListRankingsRequest {
    pb::ListRankingsRequest {
        campaign_id: campaign.into(),
        scope_unit_id: scope.into(),
        unit_kinds: kinds(unit_kinds),
        ..Default::default()
    }
}

async fn list(app: &TestApp, request: pb::ListRankingsRequest) -> pb::ListRankingsResponse {
    app.analyst()
        .list_rankings(request)
        .await
        .unwrap()
        .into_inner()
}

/// Checks that a ranking compares exactly `peers` with the expected ranks, best first, and counts
/// them.
fn assert_ranking(
    response: &pb::ListRankingsResponse,
    peers: &[&str],
    ranks: &BTreeMap<String, i32>,
) {
    let mut ids: Vec<&str> = response
        .entries
        .iter()
        .map(|e| e.unit_id.as_str())
        .collect();
    ids.sort_unstable();
    let mut expected_ids = peers.to_vec();
    expected_ids.sort_unstable();
    assert_eq!(ids, expected_ids);
    for e in &response.entries {
        assert_eq!(e.rank, ranks.get(&e.unit_id).copied(), "{}", e.unit_id);
    }
    let order: Vec<i32> = response.entries.iter().filter_map(|e| e.rank).collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "best first: {order:?}"
    );
    assert_eq!(
        (response.peer_count, response.ranked_count),
        (peers.len() as i32, ranks.len() as i32)
    );
}

fn ids(entries: &[pb::RankingEntry]) -> Vec<(&str, Option<i32>)> {
    entries
        .iter()
        .map(|e| (e.unit_id.as_str(), e.rank))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

per_backend! {
    async fn a_province_ranks_its_county_level_units(app: TestApp) {
        let figures = seed_province(&app).await;
        // The new levels are stored under numbers of their own.
        let stored = stored_unit_kinds(&app).await;
        assert_eq!((stored["prov"], stored["pf-a"], stored["ca2"]), (7, 8, 9));
        let unit = app.admin_catalog().get_unit(pb::GetUnitRequest { id: "ca2".into() }).await.unwrap().into_inner();
        assert_eq!((unit.kind(), unit.parent_id.as_str()), (K::County, "pf-a"));

        // Roll-ups: each unit pools its whole subtree, as a recomputation from the raw rows.
        for ((round, unit), e) in &figures {
            let actual = unit_score(&app, round, unit).await;
            assert_eq!(actual.submission_count, e.submissions, "{round}/{unit}");
            match (actual.composite_score, e.composite) {
                (Some(a), Some(x)) => assert!(close(a, x), "{round}/{unit}: {a} vs {x}"),
                (a, x) => assert_eq!(a, x, "{round}/{unit}"),
            }
            for i in &actual.indicators {
                let mean = e.means.get(&i.indicator_code).map(|(_, m)| *m);
                assert_eq!(i.mean.is_some(), mean.is_some(), "{round}/{unit}/{}", i.indicator_code);
                if let (Some(a), Some(x)) = (i.mean, mean) {
                    assert!(close(a, x), "{round}/{unit}/{}", i.indicator_code);
                }
            }
        }

        // By composite, with no kinds named: the county level across the province, with the
        // previous round's ranks among the same peers.
        let counties = units_of(&[K::County], "prov");
        assert_eq!(counties.len(), 5);
        let before = ranks_of(&figures, "p1", &counties, composite);
        let now = ranks_of(&figures, "p2", &counties, composite);
        assert!(!now.contains_key("cb3"), "cb3 stays under the minimum sample");
        let ranking = list(&app, request("p2", "prov", &[])).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::County]));
        assert_ranking(&ranking, &counties, &now);
        for e in &ranking.entries {
            assert_eq!(e.previous_rank, before.get(&e.unit_id).copied(), "{}", e.unit_id);
        }
        // The single field names the same group.
        let mut single = request("p2", "prov", &[]);
        single.unit_kind = K::County.into();
        assert_eq!(list(&app, single).await, ranking);

        // By one indicator.
        let mut by_security = request("p2", "prov", &[]);
        by_security.indicator_code = "security".into();
        let security = |e: &Expected| e.means.get("security").map(|(_, m)| *m);
        let ranking = list(&app, by_security).await;
        assert_ranking(&ranking, &counties, &ranks_of(&figures, "p2", &counties, security));
        for e in &ranking.entries {
            let expected = security(&figures[&("p2", *counties.iter().find(|c| **c == e.unit_id).unwrap())]);
            assert_eq!(e.score.is_some(), expected.is_some());
            if let (Some(a), Some(x)) = (e.score, expected) {
                assert!(close(a, x), "{}", e.unit_id);
            }
        }

        // Prefectures are ranked when asked for.
        let prefectures = units_of(&[K::Prefecture], "prov");
        let ranking = list(&app, request("p2", "prov", &[K::Prefecture])).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::Prefecture]));
        assert_ranking(&ranking, &prefectures, &ranks_of(&figures, "p2", &prefectures, composite));
    }

    async fn a_county_ranks_its_township_level_units_as_one_group(app: TestApp) {
        let figures = seed_province(&app).await;
        let township_level = units_of(&[K::Township, K::Subdistrict], "ca1");
        assert_eq!(township_level, ["ca1-t1", "ca1-t2", "ca1-s1", "ca1-s2"]);
        let ranks = ranks_of(&figures, "p2", &township_level, composite);
        assert_eq!(ranks.len(), 4);
        let ranking = list(&app, request("p2", "ca1", &[])).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::Township, K::Subdistrict]));
        assert_ranking(&ranking, &township_level, &ranks);
        assert_eq!(ranking.entries.iter().filter(|e| e.rank == Some(1)).count(), ranks.values().filter(|r| **r == 1).count());

        // The single field and the list together name their union.
        let mut union = request("p2", "ca1", &[K::Subdistrict, K::Township]);
        union.unit_kind = K::Township.into();
        assert_eq!(list(&app, union).await, ranking);

        // The single field alone still ranks one kind in a sequence of its own.
        let mut townships = request("p2", "ca1", &[]);
        townships.unit_kind = K::Township.into();
        let only = units_of(&[K::Township], "ca1");
        let ranking = list(&app, townships).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::Township]));
        assert_ranking(&ranking, &only, &ranks_of(&figures, "p2", &only, composite));

        // Departments are never in a default group, and are ranked among themselves when asked.
        let departments = units_of(&[K::Department], "prov");
        assert_eq!(departments, ["pf-a-dept", "ca1-dept"]);
        let ranking = list(&app, request("p2", "prov", &[K::Department])).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::Department]));
        assert_ranking(&ranking, &departments, &ranks_of(&figures, "p2", &departments, composite));

        // Across the province, the township-level units form one sequence too; pages walk it
        // with the peer counts of the whole group.
        let all = units_of(&[K::Township, K::Subdistrict], "prov");
        let whole = list(&app, request("p2", "prov", &[K::Township, K::Subdistrict])).await;
        assert_ranking(&whole, &all, &ranks_of(&figures, "p2", &all, composite));
        let mut paged = Vec::new();
        let mut token = String::new();
        loop {
            let mut page = request("p2", "prov", &[K::Township, K::Subdistrict]);
            page.page_size = 3;
            page.page_token = token;
            let page = list(&app, page).await;
            assert_eq!((page.peer_count, page.ranked_count), (whole.peer_count, whole.ranked_count));
            paged.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(paged, whole.entries);
    }

    async fn every_ranking_method_takes_a_peer_group_and_reports_it(app: TestApp) {
        let figures = seed_province(&app).await;
        let counties = units_of(&[K::County], "prov");
        let (before, now) = (ranks_of(&figures, "p1", &counties, composite), ranks_of(&figures, "p2", &counties, composite));
        let mut analyst = app.analyst();

        // Persistent laggards among the counties, by default: bottom two in both rounds.
        let bottom = |round| {
            let scores: Vec<(&str, Option<f64>)> = counties
                .iter()
                .map(|c| {
                    let e = &figures[&(round, *c)];
                    (*c, e.composite.filter(|_| e.submissions >= MIN_SAMPLE))
                })
                .collect();
            expected_bottom_ranks(&scores)
        };
        let (bottom_before, bottom_now) = (bottom("p1"), bottom("p2"));
        let mut expected: Vec<&str> = counties
            .iter()
            .copied()
            .filter(|c| bottom_now.get(*c).is_some_and(|r| *r <= 2) && bottom_before.get(*c).is_some_and(|r| *r <= 2))
            .collect();
        expected.sort_by_key(|c| (std::cmp::Reverse(now[*c]), *c));
        let laggards = analyst
            .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
                campaign_id: "p2".into(), scope_unit_id: "prov".into(), bottom_n: 2, campaign_count: 2, ..Default::default()
            })
            .await.unwrap().into_inner();
        assert_eq!(laggards.peer_unit_kinds, kinds(&[K::County]));
        let found: Vec<&str> = laggards.entries.iter().map(|e| e.unit_id.as_str()).collect();
        assert_eq!(found, expected);
        for entry in &laggards.entries {
            let ranked: Vec<_> = entry.standings.iter().map(|s| (s.rank, s.ranked_count)).collect();
            let id = &entry.unit_id;
            assert_eq!(ranked, [(now.get(id).copied(), now.len() as i32), (before.get(id).copied(), before.len() as i32)]);
        }

        // Movers among the counties, by default: every county ranked in both rounds that moved.
        let movers = analyst
            .list_rank_movers(pb::ListRankMoversRequest {
                campaign_id: "p2".into(), scope_unit_id: "prov".into(), limit: 5, ..Default::default()
            })
            .await.unwrap().into_inner();
        assert_eq!(movers.peer_unit_kinds, kinds(&[K::County]));
        let change = |c: &str| Some(before.get(c)? - now.get(c)?);
        let mut risers: Vec<&str> = counties.iter().copied().filter(|c| change(c).is_some_and(|d| d > 0)).collect();
        let mut fallers: Vec<&str> = counties.iter().copied().filter(|c| change(c).is_some_and(|d| d < 0)).collect();
        for (entries, expected) in [(&movers.risers, &mut risers), (&movers.fallers, &mut fallers)] {
            let mut found: Vec<&str> = entries.iter().map(|e| e.unit_id.as_str()).collect();
            found.sort_unstable();
            expected.sort_unstable();
            assert_eq!(&found, expected);
            for e in entries.iter() {
                assert_eq!(e.rank_change, change(&e.unit_id), "{}", e.unit_id);
            }
        }

        // A live ranking, by default: its first message ranks the counties.
        let mut stream = analyst
            .watch_rankings(pb::WatchRankingsRequest { campaign_id: "p2".into(), scope_unit_id: "prov".into(), ..Default::default() })
            .await.unwrap().into_inner();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.peer_unit_kinds, kinds(&[K::County]));
        assert_ranking(&first, &counties, &now);

        // A sub-district's weaknesses: ranked among the province's township-level units.
        let township_level = units_of(&[K::Township, K::Subdistrict], "prov");
        let weak = analyst
            .get_unit_weaknesses(pb::GetUnitWeaknessesRequest { campaign_id: "p2".into(), unit_id: "ca1-s1".into(), ..Default::default() })
            .await.unwrap().into_inner();
        assert_eq!(weak.peer_unit_kinds, kinds(&[K::Township, K::Subdistrict]));
        assert_eq!(weak.indicators.len(), 3);
        for standing in &weak.indicators {
            let code = standing.indicator_code.clone();
            let ranks = ranks_of(&figures, "p2", &township_level, |e| e.means.get(&code).map(|(_, m)| *m));
            assert_eq!(standing.rank, ranks.get("ca1-s1").copied(), "{code}");
            assert_eq!(standing.ranked_count, ranks.len() as i32, "{code}");
        }
        // A group without the unit's own kind cannot place it.
        let status = analyst
            .get_unit_weaknesses(pb::GetUnitWeaknessesRequest { campaign_id: "p2".into(), unit_id: "ca1-s1".into(), unit_kinds: kinds(&[K::Department]) })
            .await.unwrap_err();
        assert_eq!(violated_fields(&status), ["unit_kinds"]);

        // A county's history: among the counties in each round, beside the score ranked on.
        let history = analyst.get_unit_history(pb::GetUnitHistoryRequest { unit_id: "ca2".into(), ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(history.peer_unit_kinds, kinds(&[K::County]));
        let points: Vec<_> = history.points.iter().map(|p| (p.campaign_id.as_str(), p.rank, p.ranked_count)).collect();
        assert_eq!(points, [("p1", before.get("ca2").copied(), before.len() as i32), ("p2", now.get("ca2").copied(), now.len() as i32)]);
        for (p, round) in history.points.iter().zip(ROUNDS) {
            let expected = figures[&(round, "ca2")].composite.unwrap();
            assert!(close(p.ranked_score.unwrap(), expected) && close(p.composite_score.unwrap(), expected));
            assert_eq!(p.weighted_composite_score, None);
        }
        // The province itself has no peers in its own campaigns: no rank, not "1 of 1".
        let history = analyst.get_unit_history(pb::GetUnitHistoryRequest { unit_id: "prov".into(), ..Default::default() }).await.unwrap().into_inner();
        assert_eq!(history.peer_unit_kinds, kinds(&[K::Province]));
        for (p, round) in history.points.iter().zip(ROUNDS) {
            assert_eq!((p.rank, p.ranked_count), (None, 0), "{round}");
            assert!(close(p.composite_score.unwrap(), figures[&(round, "prov")].composite.unwrap()));
        }
    }

    async fn a_city_ranks_townships_and_subdistricts_together_and_departments_apart(app: TestApp) {
        app.seed().await;
        // security: jinshi 100, dongshan 80, the department 50.
        let mut requests = Vec::new();
        for (unit, option) in [("jinshi-v1", "a"), ("dongshan-c1", "b"), ("xinfang", "c")] {
            requests.extend((0..2).map(|_| visit("c1", unit, vec![answer("security", option)])));
        }
        send(&app, requests).await;
        let mut analyst = app.analyst();

        // One sequence, where the single kind used to be required.
        let ranking = list(&app, request("c1", "city", &[])).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::Township, K::Subdistrict]));
        assert_eq!(ids(&ranking.entries), [("jinshi", Some(1)), ("dongshan", Some(2))]);
        assert_eq!((ranking.peer_count, ranking.ranked_count), (2, 2));
        let ranking = list(&app, request("c1", "city", &[K::Department])).await;
        assert_eq!(ids(&ranking.entries), [("xinfang", Some(1))]);
        // Under a township: its villages and communities.
        let ranking = list(&app, request("c1", "jinshi", &[])).await;
        assert_eq!(ranking.peer_unit_kinds, kinds(&[K::Village, K::Community]));
        assert_eq!(ids(&ranking.entries), [("jinshi-v1", Some(1)), ("jinshi-v2", None)]);

        // A village has no level below it; bad kinds are named by position.
        let status = analyst.list_rankings(request("c1", "jinshi-v1", &[])).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["unit_kinds"]);
        let cases: [(i32, Vec<i32>, &[&str]); 3] = [
            (0, vec![0], &["unit_kinds[0]"]),
            (0, vec![K::Township.into(), 42], &["unit_kinds[1]"]),
            (42, vec![], &["unit_kind"]),
        ];
        for (unit_kind, unit_kinds, fields) in cases {
            let r = pb::ListRankingsRequest { unit_kind, unit_kinds: unit_kinds.clone(), ..request("c1", "city", &[]) };
            assert_eq!(violated_fields(&analyst.list_rankings(r).await.unwrap_err()), fields, "{unit_kinds:?}");
            let w = pb::WatchRankingsRequest { campaign_id: "c1".into(), scope_unit_id: "city".into(), unit_kind, unit_kinds, ..Default::default() };
            assert_eq!(violated_fields(&analyst.watch_rankings(w).await.unwrap_err()), fields);
        }

        // The city's own history: no peers in its own campaign, so no rank.
        let history = |unit: &str, unit_kinds: &[K]| pb::GetUnitHistoryRequest { unit_id: unit.into(), unit_kinds: kinds(unit_kinds) };
        let city = analyst.get_unit_history(history("city", &[])).await.unwrap().into_inner();
        let points: Vec<_> = city.points.iter().map(|p| (p.rank, p.ranked_count, p.composite_score.is_some())).collect();
        assert_eq!(points, [(None, 0, true)]);
        // A sub-district among townships and sub-districts; the department among departments.
        let dongshan = analyst.get_unit_history(history("dongshan", &[])).await.unwrap().into_inner();
        assert_eq!(dongshan.peer_unit_kinds, kinds(&[K::Township, K::Subdistrict]));
        assert_eq!((dongshan.points[0].rank, dongshan.points[0].ranked_count), (Some(2), 2));
        assert_eq!(dongshan.points[0].ranked_score, Some(80.0));
        let xinfang = analyst.get_unit_history(history("xinfang", &[])).await.unwrap().into_inner();
        assert_eq!(xinfang.peer_unit_kinds, kinds(&[K::Department]));
        assert_eq!((xinfang.points[0].rank, xinfang.points[0].ranked_count), (Some(1), 1));
        let status = analyst.get_unit_history(history("dongshan", &[K::Village])).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["unit_kinds"]);
    }

    async fn top_and_bottom_filters_report_the_peers_compared(app: TestApp) {
        app.seed().await;
        // Villages v1..v6 under jinshi answer `visits` "a" (100) 4, 3, 3, 2, 1 and 0 times of 4;
        // jinshi-v1 and jinshi-v2 stay empty: 8 peers, 6 ranked.
        let a_counts = [4, 3, 3, 2, 1, 0];
        let mut requests = Vec::new();
        for (i, a) in a_counts.into_iter().enumerate() {
            let unit = format!("v{}", i + 1);
            app.create_unit(&unit, &format!("{}号村", i + 1), K::Village, Some("jinshi")).await;
            requests.extend((0..4).map(|j| visit("c1", &unit, vec![answer("visits", if j < a { "a" } else { "b" })])));
        }
        send(&app, requests).await;
        let villages: Vec<String> = (1..=6).map(|i| format!("v{i}")).collect();
        let scores: Vec<(&str, Option<f64>)> = villages
            .iter()
            .zip(a_counts)
            .map(|(v, a)| (v.as_str(), Some(100.0 * a as f64 / 4.0)))
            .collect();
        let ranks = expected_ranks(&scores);
        let bottom_ranks = expected_bottom_ranks(&scores);
        let all = list(&app, request("c1", "jinshi", &[K::Village])).await;
        assert_eq!((all.peer_count, all.ranked_count), (8, 6));

        for (top_n, bottom_n) in [(2, 0), (0, 2), (1, 0), (0, 1)] {
            let filtered = list(&app, pb::ListRankingsRequest { top_n, bottom_n, ..request("c1", "jinshi", &[K::Village]) }).await;
            let expected: Vec<(&str, Option<i32>)> = ids(&all.entries)
                .into_iter()
                .filter(|(unit, _)| match (top_n, bottom_n) {
                    (n, 0) => ranks.get(*unit).is_some_and(|r| *r <= n),
                    (_, n) => bottom_ranks.get(*unit).is_some_and(|r| *r <= n),
                })
                .collect();
            assert_eq!(ids(&filtered.entries), expected, "top {top_n} bottom {bottom_n}");
            assert!(filtered.entries.len() < 6);
            assert_eq!((filtered.peer_count, filtered.ranked_count), (8, 6), "top {top_n} bottom {bottom_n}");
        }
    }

    async fn a_history_shows_the_score_its_rank_was_decided_by(app: TestApp) {
        app.seed().await;
        let shares = [("young", 0.2), ("old", 0.8)];
        let mut weighted = campaign("w1", None, 1);
        weighted.weighting = Some(pb::Weighting {
            method: pb::WeightingMethod::PostStratification.into(),
            margins: vec![pb::Margin {
                dimension: "age".into(),
                levels: shares.iter().map(|(value, share)| pb::MarginLevel { value: (*value).into(), share: *share, ..Default::default() }).collect(),
            }],
        });
        app.create_campaign(weighted).await;
        // security options a, c and e carry 100, 50 and 0 points. jinshi pleases the young, whom
        // the population has few of; dongshan the old: the orders differ.
        let plan: [(&str, &str, &str, usize); 4] = [
            ("jinshi-v1", "young", "a", 8), ("jinshi-v1", "old", "e", 2),
            ("dongshan-c1", "young", "e", 2), ("dongshan-c1", "old", "c", 8),
        ];
        let points = |option: &str| match option { "a" => 100.0, "c" => 50.0, _ => 0.0 };
        let mut requests = Vec::new();
        for (unit, age, option, count) in plan {
            for _ in 0..count {
                let mut r = visit("w1", unit, vec![answer("security", option)]);
                r.respondent_attributes.insert("age".into(), age.into());
                requests.push(r);
            }
        }
        send(&app, requests).await;
        // Post-stratification within each unit: w_h = share_h · n / n_h.
        let expected = |unit: &str| {
            let answers: Vec<(&str, f64, usize)> = plan.iter().filter(|p| p.0 == unit).map(|p| (p.1, points(p.2), p.3)).collect();
            let n: usize = answers.iter().map(|a| a.2).sum();
            let mut sum_w = 0.0;
            let mut sum_wy = 0.0;
            for (age, y, count) in &answers {
                let n_h: usize = answers.iter().filter(|a| a.0 == *age).map(|a| a.2).sum();
                let share = shares.iter().find(|s| s.0 == *age).unwrap().1;
                let w = share * n as f64 / n_h as f64;
                sum_w += w * *count as f64;
                sum_wy += w * y * *count as f64;
            }
            let unweighted = answers.iter().map(|a| a.1 * a.2 as f64).sum::<f64>() / n as f64;
            (unweighted, sum_wy / sum_w)
        };
        let (jinshi, dongshan) = (expected("jinshi-v1"), expected("dongshan-c1"));
        assert!(jinshi.0 > dongshan.0 && jinshi.1 < dongshan.1, "{jinshi:?} {dongshan:?}");

        let mut analyst = app.analyst();
        for (unit, (unweighted, weighted), rank) in [("jinshi", jinshi, 2), ("dongshan", dongshan, 1)] {
            let history = analyst.get_unit_history(pb::GetUnitHistoryRequest { unit_id: unit.into(), ..Default::default() }).await.unwrap().into_inner();
            let point = history.points.iter().find(|p| p.campaign_id == "w1").unwrap();
            assert_eq!((point.rank, point.ranked_count), (Some(rank), 2), "{unit}");
            assert!(close(point.composite_score.unwrap(), unweighted), "{unit}: {point:?}");
            assert!(close(point.weighted_composite_score.unwrap(), weighted), "{unit}: {point:?}");
            assert!(close(point.ranked_score.unwrap(), weighted), "{unit}: the rank's own score");
        }
        // The ranking agrees: ranked, and shown, by the weighted composite.
        let ranking = list(&app, request("w1", "city", &[])).await;
        assert_eq!(ids(&ranking.entries), [("dongshan", Some(1)), ("jinshi", Some(2))]);
        assert!(close(ranking.entries[0].score.unwrap(), dongshan.1) && close(ranking.entries[1].score.unwrap(), jinshi.1));
    }
}
