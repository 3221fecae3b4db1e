//! Score reads from memory: after randomised ingest and reviews, every read equals a
//! recomputation from the raw stored rows; a read right after an acknowledged write sees it;
//! with two server processes on one PostgreSQL database, each process's reads catch up with
//! what the other committed.

use std::collections::BTreeMap;
use std::time::Duration;

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::helpers::{
    Backend, SEEDED_UNITS, TestApp, answer, assert_scores_match_stored, expected_ranks, recompute,
    seeded_subtree, stored_submissions, unit_score, visit,
};

const CAMPAIGN: &str = "c1";

/// Every seeded unit a visit may name.
const UNITS: [&str; 8] = [
    "city",
    "jinshi",
    "jinshi-v1",
    "jinshi-v2",
    "dongshan",
    "dongshan-c1",
    "dongshan-c2",
    "xinfang",
];

/// A visit to a random unit with random answers ("don't know" and unanswered included).
fn random_visit(rng: &mut StdRng) -> pb::SubmitVisitRequest {
    let unit = UNITS[rng.random_range(0..UNITS.len())];
    let five: &[&str] = &["a", "b", "c", "d", "e", "dk", "refused"];
    let two: &[&str] = &["a", "b", "dk", "refused"];
    let mut answers = Vec::new();
    for (indicator, options) in [("security", five), ("police", five), ("visits", two)] {
        // The API refuses a visit without answers: the first indicator is always answered.
        if answers.is_empty() || rng.random_bool(0.8) {
            answers.push(answer(
                indicator,
                options[rng.random_range(0..options.len())],
            ));
        }
    }
    visit(CAMPAIGN, unit, answers)
}

fn counts(state: pb::ReviewState) -> bool {
    matches!(state, pb::ReviewState::Received | pb::ReviewState::Approved)
}

/// Submits a random visit (or reviews an earlier one) on `app`; returns the unit whose count
/// changed and by how much.
async fn random_write(
    app: &TestApp,
    rng: &mut StdRng,
    written: &mut Vec<(String, String, bool)>,
) -> (String, i64) {
    if !written.is_empty() && rng.random_bool(0.3) {
        let i = rng.random_range(0..written.len());
        let (id, unit, counted) = written[i].clone();
        let decision = if counted {
            pb::ReviewDecision::Reject
        } else {
            pb::ReviewDecision::Approve
        };
        let summary = app.review(CAMPAIGN, &id, decision).await;
        let now = counts(summary.review_state());
        written[i].2 = now;
        return (unit, i64::from(now) - i64::from(counted));
    }
    let request = random_visit(rng);
    let unit = request.unit_id.clone();
    let ack = app
        .field_worker(&["city"])
        .submit_visit(request)
        .await
        .expect("a valid visit is acknowledged")
        .into_inner();
    let ack = ack.acknowledgement.expect("an acknowledgement");
    let counted = counts(ack.review_state());
    written.push((ack.submission_id, unit.clone(), counted));
    (unit, i64::from(counted))
}

/// The ranks ListRankings gives the peers of `kinds` under the city, against ranks recomputed
/// from the stored rows.
async fn assert_rankings_match_stored(app: &TestApp) {
    let stored: Vec<_> = stored_submissions(app, CAMPAIGN)
        .await
        .into_iter()
        .filter(|s| s.review_state.counts())
        .collect();
    for kinds in [
        vec![pb::UnitKind::Township, pb::UnitKind::Subdistrict],
        vec![pb::UnitKind::Village, pb::UnitKind::Community],
    ] {
        let peers: Vec<&str> = SEEDED_UNITS
            .iter()
            .filter(|(_, _, kind, _)| kinds.contains(kind))
            .map(|(id, ..)| *id)
            .collect();
        let expected: Vec<(&str, Option<f64>)> = peers
            .iter()
            .map(|u| (*u, recompute(&stored, &seeded_subtree(u)).composite))
            .collect();
        let ranking = app
            .analyst()
            .list_rankings(pb::ListRankingsRequest {
                campaign_id: CAMPAIGN.into(),
                scope_unit_id: "city".into(),
                unit_kinds: kinds.iter().map(|k| (*k).into()).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let ranks: BTreeMap<String, i32> = ranking
            .entries
            .iter()
            .filter_map(|e| Some((e.unit_id.clone(), e.rank?)))
            .collect();
        assert_eq!(ranks, expected_ranks(&expected), "{kinds:?}");
        assert_eq!(ranking.entries.len(), peers.len());
        for entry in &ranking.entries {
            let e = recompute(&stored, &seeded_subtree(&entry.unit_id));
            assert_eq!(entry.submission_count, e.submissions, "{}", entry.unit_id);
            match (entry.score, e.composite) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{}", entry.unit_id),
                (a, b) => assert_eq!(a, b, "{}", entry.unit_id),
            }
        }
    }
}

/// Whether every unit's submission count and composite on `app` equal a recomputation.
async fn scores_match_stored(app: &TestApp) -> bool {
    let stored: Vec<_> = stored_submissions(app, CAMPAIGN)
        .await
        .into_iter()
        .filter(|s| s.review_state.counts())
        .collect();
    for unit in UNITS {
        let expected = recompute(&stored, &seeded_subtree(unit));
        let actual = unit_score(app, CAMPAIGN, unit).await;
        let composite_matches = match (actual.composite_score, expected.composite) {
            (Some(a), Some(e)) => (a - e).abs() < 1e-9,
            (a, e) => a == e,
        };
        if actual.submission_count != expected.submissions || !composite_matches {
            return false;
        }
    }
    true
}

per_backend! {
    async fn a_read_right_after_an_acknowledged_write_sees_it(app: TestApp) {
        app.seed().await;
        let mut rng = StdRng::seed_from_u64(18);
        // Read first, so the figures are held in memory and every write below reaches them as
        // deltas rather than through a load.
        let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
        for unit in UNITS {
            expected.insert(unit, unit_score(&app, CAMPAIGN, unit).await.submission_count);
        }
        let mut written = Vec::new();
        for n in 0..60 {
            let (unit, change) = random_write(&app, &mut rng, &mut written).await;
            for u in UNITS.iter().filter(|u| seeded_subtree(u).contains(&unit.as_str())) {
                *expected.get_mut(u).expect("a seeded unit") += change;
                let read = unit_score(&app, CAMPAIGN, u).await.submission_count;
                assert_eq!(read, expected[u], "{u} right after a write to {unit}");
            }
            // Rankings between writes re-score only the units written to; the rest is kept.
            if n % 6 == 5 {
                assert_rankings_match_stored(&app).await;
            }
        }
        assert_scores_match_stored(&app, CAMPAIGN).await;
        assert_rankings_match_stored(&app).await;

        // A catalog change outdates what was kept: the ranking shows each new name at once
        // (the second time over figures rolled up afresh, with no writes since).
        for name in ["金石新村", "金石东村"] {
            app.admin_catalog()
                .update_unit(pb::UpdateUnitRequest {
                    unit: Some(pb::Unit { id: "jinshi-v1".into(), name: name.into(), ..Default::default() }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
                })
                .await
                .unwrap();
            let villages = app
                .analyst()
                .list_rankings(pb::ListRankingsRequest {
                    campaign_id: CAMPAIGN.into(),
                    scope_unit_id: "city".into(),
                    unit_kinds: vec![pb::UnitKind::Village.into(), pb::UnitKind::Community.into()],
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let renamed = villages.entries.iter().find(|e| e.unit_id == "jinshi-v1").unwrap();
            assert_eq!(renamed.unit_name, name);
        }
        assert_rankings_match_stored(&app).await;
    }
}

/// Two processes on one PostgreSQL database, each taking visits and reviews from several
/// clients at once: afterwards every read on each equals a recomputation from the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_read_what_both_committed_on_postgres() {
    let Some(first) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    first.seed().await;
    let second = first.spawn_beside().await;
    // Both hold the figures before the writes start.
    for app in [&first, &second] {
        assert!(scores_match_stored(app).await);
    }
    let apps = std::sync::Arc::new([first, second]);
    let mut clients = Vec::new();
    for client in 0..6u64 {
        let apps = apps.clone();
        clients.push(tokio::spawn(async move {
            let app = &apps[(client % 2) as usize];
            let mut rng = StdRng::seed_from_u64(client);
            let mut written = Vec::new();
            for _ in 0..25 {
                random_write(app, &mut rng, &mut written).await;
            }
        }));
    }
    for client in clients {
        client.await.expect("client task");
    }
    // The other process's commits arrive as notices a fraction of a second later.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for app in apps.iter() {
        while !scores_match_stored(app).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a process's reads never caught up with the rows"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for app in apps.iter() {
        assert_scores_match_stored(app, CAMPAIGN).await;
        assert_rankings_match_stored(app).await;
    }
    // A review on one process reaches the other's reads too.
    let stored = stored_submissions(&apps[0], CAMPAIGN).await;
    let counted = stored
        .iter()
        .find(|s| s.review_state.counts())
        .expect("some visit counts");
    let before = unit_score(&apps[1], CAMPAIGN, "city")
        .await
        .submission_count;
    apps[0]
        .review_service(Role::Reviewer, &["city"])
        .review_submission(pb::ReviewSubmissionRequest {
            campaign_id: CAMPAIGN.into(),
            submission_id: counted.submission_id.to_string(),
            decision: pb::ReviewDecision::Reject.into(),
            reason: "call-back found no interview".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        unit_score(&apps[0], CAMPAIGN, "city")
            .await
            .submission_count,
        before - 1,
        "the reviewing process sees its review at once"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while unit_score(&apps[1], CAMPAIGN, "city")
        .await
        .submission_count
        != before - 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other process never saw the review"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
