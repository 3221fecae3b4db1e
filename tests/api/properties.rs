//! Property test: after random workloads committed through the group-commit writer (random
//! unit trees, questionnaires with "don't know" and "refused" options, duplicate and
//! conflicting ids, units below the minimum sample, ties), the incrementally maintained
//! aggregates equal a full recomputation from the stored raw rows, unit by unit, on both stores.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use canvass::aggregate_cache::{AggregateCache, read};
use canvass::catalog::Catalog;
use canvass::domain::campaign::Campaign;
use canvass::domain::cells::Stratum;
use canvass::domain::channel::Carrier;
use canvass::domain::ids::{CampaignId, Code, QuestionnaireId, UnitId};
use canvass::domain::peers::{PeerGroup, peers};
use canvass::domain::pooling::CampaignStats;
use canvass::domain::questionnaire::{AnswerOption, Indicator, OptionValue, Questionnaire};
use canvass::domain::ranking::{RankBasis, competition_ranks};
use canvass::domain::rollup::RolledUp;
use canvass::domain::scoring::ScoringContext;
use canvass::domain::submission::{NewSubmission, ScoredAnswer, Source};
use canvass::domain::time::Timestamp;
use canvass::domain::unit::{Unit, UnitKind, UnitTree};
use canvass::ingest::{WriterConfig, WriterHandle};
use canvass::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{stored_submissions_at, test_audit_entry};

/// Each case gets its own ids in the shared database.
static CASE: AtomicUsize = AtomicUsize::new(0);

/// One drawn submission: unit pick, phone carrier (or a visit), id pick (repeats make retries
/// and conflicts), answers as (indicator pick, option pick), and interview seconds (short ones
/// are flagged and wait for review, so they do not count).
type Draw = (usize, Option<usize>, usize, Vec<(usize, usize)>, i64);

#[derive(Debug, Clone)]
struct Workload {
    villages_per_township: Vec<usize>,
    /// Per indicator: weight and scored options' points; every indicator also has dk/refused.
    indicators: Vec<(f64, Vec<u8>)>,
    min_sample: u32,
    submissions: Vec<Draw>,
    max_batch: usize,
}

fn workload() -> impl Strategy<Value = Workload> {
    (
        prop::collection::vec(0usize..4, 1..4),
        prop::collection::vec(
            (
                prop::sample::select(vec![1.0, 2.0, 4.0, 10.0]),
                // Four or more scored options give the indicator a top-three share.
                prop::collection::vec(0u8..=100, 1..6),
            ),
            1..4,
        ),
        1u32..6,
        prop::collection::vec(
            (
                0usize..100,
                prop::option::of(0usize..5),
                0usize..60,
                prop::collection::vec((0usize..4, 0usize..6), 0..5),
                0i64..40,
            ),
            0..70,
        ),
        1usize..40,
    )
        .prop_map(
            |(villages_per_township, indicators, min_sample, submissions, max_batch)| Workload {
                villages_per_township,
                indicators,
                min_sample,
                submissions,
                max_batch,
            },
        )
}

struct Built {
    tree: UnitTree,
    campaign: Campaign,
    questionnaire: Questionnaire,
    submissions: Vec<NewSubmission>,
}

fn build(case: usize, w: &Workload) -> Built {
    let id = |s: String| UnitId::parse(&s).unwrap();
    let unit = |uid: String, kind, parent: Option<UnitId>| Unit {
        id: id(uid.clone()),
        name: format!("单位{uid}"),
        kind,
        parent_id: parent,
        area: None,
        created_at: Timestamp::now(),
        archived_at: None,
    };
    let root = format!("p{case}");
    let mut units = vec![unit(root.clone(), UnitKind::City, None)];
    for (t, villages) in w.villages_per_township.iter().enumerate() {
        let township = format!("{root}-t{t}");
        units.push(unit(
            township.clone(),
            UnitKind::Township,
            Some(id(root.clone())),
        ));
        for v in 0..*villages {
            units.push(unit(
                format!("{township}-v{v}"),
                UnitKind::Village,
                Some(id(township.clone())),
            ));
        }
    }
    let code = |s: &str| Code::parse(s).unwrap();
    let indicators: Vec<Indicator> = w
        .indicators
        .iter()
        .enumerate()
        .map(|(i, (weight, points))| {
            let mut options: Vec<AnswerOption> = points
                .iter()
                .enumerate()
                .map(|(j, p)| AnswerOption {
                    code: code(&format!("o{j}")),
                    label: format!("{p}"),
                    value: OptionValue::Points(*p),
                })
                .collect();
            options.push(AnswerOption {
                code: code("dk"),
                label: "不知道".into(),
                value: OptionValue::DontKnow,
            });
            options.push(AnswerOption {
                code: code("refused"),
                label: "拒答".into(),
                value: OptionValue::Refused,
            });
            Indicator {
                code: code(&format!("i{i}")),
                text: format!("指标{i}"),
                weight: *weight,
                options,
            }
        })
        .collect();
    let questionnaire = Questionnaire {
        id: QuestionnaireId::parse(&format!("q{case}")).unwrap(),
        name: "随机问卷".into(),
        indicators,
        created_at: Timestamp::now(),
    };
    let campaign = Campaign {
        id: CampaignId::parse(&format!("c{case}")).unwrap(),
        name: "随机轮次".into(),
        questionnaire_id: questionnaire.id.clone(),
        scope_unit_id: id(root),
        opens_at: Timestamp::from_micros(0),
        closes_at: Timestamp::now().plus_seconds(86_400),
        compared_campaign_id: None,
        min_sample: w.min_sample,
        weighting: None,
        quality_rules: Default::default(),
        eligibility_rate: None,
        created_at: Timestamp::now(),
    };
    let ids: Vec<uuid::Uuid> = (0..60).map(|_| uuid::Uuid::now_v7()).collect();
    let an_hour_ago = Timestamp::now().plus_seconds(-3600);
    let submissions = w
        .submissions
        .iter()
        .map(|(unit_pick, carrier, id_pick, answers, seconds)| {
            let mut scored: BTreeMap<Code, ScoredAnswer> = BTreeMap::new();
            for (i, o) in answers {
                let position = i % questionnaire.indicators.len();
                let indicator = &questionnaire.indicators[position];
                let option = &indicator.options[o % indicator.options.len()];
                scored.insert(
                    indicator.code.clone(),
                    ScoredAnswer {
                        indicator: indicator.code.clone(),
                        position,
                        option: option.code.clone(),
                        points: option.value.points(),
                        top_three: indicator.is_top_three(option.value.points()),
                    },
                );
            }
            let answered = scored.len();
            let source = match carrier {
                Some(c) => Source::Phone {
                    // One respondent per id, so only retries share a phone number.
                    respondent: canvass::domain::phone::RespondentHash([*id_pick as u8; 32]),
                    carrier: Carrier::ALL[*c],
                },
                None => Source::Visit {
                    household_ref: "hh".into(),
                    location: None,
                },
            };
            NewSubmission {
                id: ids[*id_pick],
                campaign_id: campaign.id.clone(),
                unit_id: units[unit_pick % units.len()].id.clone(),
                source,
                started_at: an_hour_ago,
                ended_at: an_hour_ago.plus_seconds(*seconds),
                answers: scored.into_values().collect(),
                attributes: BTreeMap::new(),
                stratum: Stratum::default(),
                grievances: Vec::new(),
                flags: canvass::domain::quality::check(
                    &campaign.quality_rules,
                    &canvass::domain::quality::Interview {
                        started_at: an_hour_ago,
                        ended_at: an_hour_ago.plus_seconds(*seconds),
                        answers: answered,
                        location: None,
                        area: None,
                    },
                    Timestamp::now(),
                ),
                submitted_by: "prop".into(),
            }
        })
        .collect();
    Built {
        tree: UnitTree::new(units),
        campaign,
        questionnaire,
        submissions,
    }
}

async fn check(store: Store, database_url: &str, case: usize, w: Workload) {
    let built = build(case, &w);
    let mut units: Vec<&Unit> = built.tree.subtree(&built.campaign.scope_unit_id);
    units.sort_by_key(|u| u.parent_id.is_some());
    for u in &units {
        store
            .insert_unit(u, &test_audit_entry("unit", u.id.as_str()))
            .await
            .unwrap();
    }
    store
        .insert_questionnaire(
            &built.questionnaire,
            &test_audit_entry("questionnaire", "q"),
        )
        .await
        .unwrap();
    store
        .insert_campaign(&built.campaign, &test_audit_entry("campaign", "c"))
        .await
        .unwrap();

    // Everything goes through the writer at once, so batches and in-batch duplicates form as
    // they do under load.
    let (changes, _) = tokio::sync::broadcast::channel(16);
    let config = WriterConfig {
        max_batch: w.max_batch,
        ..WriterConfig::default()
    };
    // The in-memory aggregates are loaded (empty) first, so every batch reaches them as
    // applied deltas, as in a serving process.
    let figures = AggregateCache::new(store.clone(), 4);
    let catalog = Catalog::load(store.clone()).await.unwrap().snapshot();
    let campaign = catalog.campaign(&built.campaign.id).unwrap().clone();
    let held = figures.figures(&catalog, &campaign).await.unwrap();
    let (writer, task) = WriterHandle::spawn(store.clone(), figures.clone(), config, changes);
    let results = futures::future::join_all(built.submissions.iter().cloned().map(|s| {
        let writer = writer.clone();
        async move { writer.commit(s).await }
    }))
    .await;
    drop(writer);
    task.await.unwrap();
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, canvass::error::Error::AlreadyExists { .. }),
                "{e:?}"
            );
        }
    }

    // Recompute from raw rows: points looked up in the questionnaire for each stored answer.
    let stored = stored_submissions_at(database_url, built.campaign.id.as_str()).await;
    let distinct: std::collections::HashSet<_> = built.submissions.iter().map(|s| s.id).collect();
    assert_eq!(stored.len(), distinct.len(), "one row per distinct id");
    // Only accepted rows count; flagged ones wait for review.
    let stored: Vec<_> = stored
        .into_iter()
        .filter(|s| s.review_state.counts())
        .collect();
    let points = |indicator: &str, option: &str| {
        built
            .questionnaire
            .indicator(indicator)
            .unwrap()
            .option(option)
            .unwrap()
            .value
            .points()
    };
    // Top three, counted as DOMAIN.md words it: fewer than three options score more.
    let top_three = |indicator: &str, p: u8| {
        let scored: Vec<u8> = built
            .questionnaire
            .indicator(indicator)
            .unwrap()
            .options
            .iter()
            .filter_map(|o| o.value.points())
            .collect();
        scored.iter().filter(|&&other| other > p).count() < 3
    };
    let stats = read(&held).rolled.clone();
    // What the deltas built in memory equals the stored rows rolled up afresh, unit by unit.
    let rows = store.campaign_stats(&built.campaign.id).await.unwrap();
    let fresh = RolledUp::new(
        CampaignStats::from_cells(rows, &built.questionnaire).unwrap(),
        built.tree.clone(),
    );
    for unit in &units {
        assert_eq!(
            stats.totals(&unit.id).pooled(|_| true),
            fresh.totals(&unit.id).pooled(|_| true),
            "{}",
            unit.id
        );
    }
    let ctx = ScoringContext {
        campaign: &built.campaign,
        questionnaire: &built.questionnaire,
        stats: &stats,
        memo: None,
    };
    for unit in &units {
        let members: Vec<&UnitId> = built.tree.subtree(&unit.id).iter().map(|u| &u.id).collect();
        let rows: Vec<_> = stored
            .iter()
            .filter(|s| members.contains(&&s.unit_id))
            .collect();
        let score = ctx.score(unit);
        assert_eq!(score.submissions, rows.len() as i64, "{}", unit.id);
        for indicator in &score.indicators {
            let (mut valid, mut excluded, mut sum, mut sum_sq) = (0i64, 0i64, 0i64, 0i64);
            let mut chose_top_three = 0i64;
            for row in &rows {
                if let Some(option) = row.answers.get(indicator.code.as_str()) {
                    match points(indicator.code.as_str(), option) {
                        Some(p) => {
                            valid += 1;
                            sum += i64::from(p);
                            sum_sq += i64::from(p) * i64::from(p);
                            chose_top_three += i64::from(top_three(indicator.code.as_str(), p));
                        }
                        None => excluded += 1,
                    }
                }
            }
            let m = indicator.moments;
            assert_eq!(
                (m.valid, m.excluded, m.sum, m.sum_sq),
                (valid, excluded, sum, sum_sq),
                "{}/{}",
                unit.id,
                indicator.code
            );
            let scored_options = built
                .questionnaire
                .indicator(indicator.code.as_str())
                .unwrap()
                .options
                .iter()
                .filter(|o| o.value.points().is_some())
                .count();
            assert_eq!(
                indicator.top_three.as_ref().map(|t| t.count),
                (scored_options > 3).then_some(chose_top_three),
                "{}/{}",
                unit.id,
                indicator.code
            );
        }
    }
    // Ranks of villages (and townships) equal an independent ranking of recomputed composites.
    for kind in [UnitKind::Township, UnitKind::Village] {
        let group = PeerGroup::of([kind]).unwrap();
        let peer_units = peers(&built.tree, &built.campaign.scope_unit_id, &group);
        let ranked = ctx.rank(&peer_units, &RankBasis::Composite);
        let expected_scores: Vec<Option<f64>> = peer_units
            .iter()
            .map(|u| {
                let members: Vec<&UnitId> =
                    built.tree.subtree(&u.id).iter().map(|x| &x.id).collect();
                let rows: Vec<_> = stored
                    .iter()
                    .filter(|s| members.contains(&&s.unit_id))
                    .collect();
                let mut weighted = 0.0;
                let mut weights = 0.0;
                for indicator in &built.questionnaire.indicators {
                    let pts: Vec<f64> = rows
                        .iter()
                        .filter_map(|r| r.answers.get(indicator.code.as_str()))
                        .filter_map(|o| points(indicator.code.as_str(), o))
                        .map(f64::from)
                        .collect();
                    if !pts.is_empty() {
                        weighted += indicator.weight * pts.iter().sum::<f64>() / pts.len() as f64;
                        weights += indicator.weight;
                    }
                }
                (weights > 0.0 && rows.len() as i64 >= i64::from(built.campaign.min_sample))
                    .then(|| weighted / weights)
            })
            .collect();
        for ((_, value, rank), expected) in ranked.iter().zip(&expected_scores) {
            if let Some(e) = expected {
                let v = value.expect("a rankable unit has a score");
                assert!((v - e).abs() < 1e-9, "{v} vs {e}");
            }
            assert_eq!(rank.is_some(), expected.is_some());
        }
        let expected_ranks = competition_ranks(&expected_scores);
        let actual_ranks: Vec<Option<u32>> = ranked.iter().map(|(_, _, r)| *r).collect();
        assert_eq!(actual_ranks, expected_ranks, "{kind:?}");
    }
}

per_backend! {
    async fn incremental_aggregates_equal_recomputation(app: TestApp) {
        let store = app.store.clone();
        let database_url = app.database_url.clone();
        let handle = tokio::runtime::Handle::current();
        let cases: u32 = std::env::var("CANVASS_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
        tokio::task::spawn_blocking(move || {
            let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
            runner
                .run(&workload(), |w| {
                    let case = CASE.fetch_add(1, Ordering::Relaxed);
                    handle.block_on(tokio::time::timeout(Duration::from_secs(60), check(store.clone(), &database_url, case, w))).expect("case finishes");
                    Ok(())
                })
                .unwrap();
        })
        .await
        .unwrap();
    }
}
