//! The store's contract, told as one story and run against both backends: commit, retry,
//! conflict, duplicate household, one interview per respondent, review, call cases (and a
//! rejected poll's case), grievances, and the withdrawal of polls older servers rejected, each
//! read back. Everything the core relies on the store to report is here.

use std::collections::BTreeMap;

use canvass::domain::aapor::{AttemptOutcome, Disposition, NewCallAttempt};
use canvass::domain::cells::Stratum;
use canvass::domain::channel::Carrier;
use canvass::domain::flags::Flag;
use canvass::domain::grievance::{GrievanceStatus, NewGrievance, Urgency};
use canvass::domain::ids::{CampaignId, Code, UnitId};
use canvass::domain::phone::RespondentHash;
use canvass::domain::review::{Decision, ReviewState};
use canvass::domain::submission::{NewSubmission, ScoredAnswer, Source};
use canvass::domain::time::Timestamp;
use canvass::error::Error;
use canvass::store::{CommitOutcome, ListQuery, ReviewChange, Store, StoreOptions};
use uuid::Uuid;

use crate::helpers::{set_review_state_alone, test_audit_entry};

fn c1() -> CampaignId {
    CampaignId::parse("c1").unwrap()
}

/// A submission to c1 from jinshi-v1 answering security "b" (80 points, one of the top three).
fn submission(id: u128, source: Source) -> NewSubmission {
    let now = Timestamp::now().as_micros();
    NewSubmission {
        id: Uuid::from_u128(id),
        campaign_id: c1(),
        unit_id: UnitId::parse("jinshi-v1").unwrap(),
        source,
        started_at: Timestamp::from_micros(now - 600_000_000),
        ended_at: Timestamp::from_micros(now - 60_000_000),
        answers: vec![ScoredAnswer {
            indicator: Code::parse("security").unwrap(),
            position: 0,
            option: Code::parse("b").unwrap(),
            points: Some(80),
            top_three: true,
        }],
        attributes: BTreeMap::new(),
        stratum: Stratum::default(),
        grievances: Vec::new(),
        flags: Vec::new(),
        submitted_by: "worker-1".into(),
    }
}

fn visit_to(id: u128, household: &str) -> NewSubmission {
    submission(
        id,
        Source::Visit {
            household_ref: household.into(),
            location: None,
        },
    )
}

fn poll_of(id: u128, respondent: u8) -> NewSubmission {
    submission(
        id,
        Source::Phone {
            respondent: RespondentHash([respondent; 32]),
            carrier: Carrier::ChinaTelecom,
        },
    )
}

async fn commit(store: &Store, batch: &[&NewSubmission]) -> Vec<CommitOutcome> {
    store
        .commit_submissions(batch, Timestamp::now(), &canvass::ingest::admit)
        .await
        .unwrap()
}

/// Counted submissions and the security indicator's (valid, sum) over the campaign.
async fn counted(store: &Store) -> (i64, i64, i64) {
    let rows = store.campaign_stats(&c1()).await.unwrap();
    let submissions = rows.iter().map(|r| r.figures.submissions).sum();
    let security = rows.iter().filter_map(|r| r.figures.indicators.first());
    let (valid, sum) = security.fold((0, 0), |(v, s), m| (v + m.valid, s + m.sum));
    (submissions, valid, sum)
}

/// Cases per (carrier, final disposition) over the campaign, in that order.
async fn case_counts(store: &Store) -> Vec<(Option<Carrier>, Disposition, i64)> {
    let mut counts: Vec<_> = store
        .disposition_counts(&c1())
        .await
        .unwrap()
        .into_iter()
        .map(|(_, carrier, d, n)| (carrier, d, n))
        .collect();
    counts.sort_by_key(|(carrier, d, _)| (*carrier, *d));
    counts
}

fn listing(limit: usize) -> ListQuery {
    ListQuery {
        campaign_id: c1(),
        units: None,
        after: 0,
        limit,
    }
}

per_backend! {
    async fn the_store_keeps_its_contract(app: TestApp) {
        app.seed().await;
        let store = &app.store;

        // A first commit: the second visit to a household is flagged and does not count.
        let first = visit_to(1, "hh-1");
        let again_at_home = visit_to(2, "hh-1");
        let outcomes = commit(store, &[&first, &again_at_home]).await;
        let [CommitOutcome::Inserted { accepted_at, state: ReviewState::Received, .. }, CommitOutcome::Inserted { state: ReviewState::Flagged, flags, .. }] = &outcomes[..] else {
            panic!("{outcomes:?}");
        };
        assert_eq!(flags, &[Flag::DuplicateHousehold]);
        assert_eq!(counted(store).await, (1, 1, 80));

        // A retry reads back what was stored; other content under the id is reported with the
        // stored hash, for the core to refuse. Nothing is written twice.
        let retried = commit(store, &[&first]).await;
        assert_eq!(
            retried,
            [CommitOutcome::Existing {
                content_hash: first.content_hash(),
                accepted_at: *accepted_at,
                state: ReviewState::Received,
                flags: Vec::new(),
            }]
        );
        let reused = visit_to(1, "hh-9");
        let [CommitOutcome::Existing { content_hash, .. }] = &commit(store, &[&reused]).await[..] else {
            panic!("an existing id reads back as existing");
        };
        assert_ne!(*content_hash, reused.content_hash());
        assert_eq!(counted(store).await, (1, 1, 80));

        // One interview per respondent, whatever the submission id.
        let (poll, second_interview) = (poll_of(3, 7), poll_of(4, 7));
        let outcomes = commit(store, &[&poll, &second_interview]).await;
        assert!(matches!(outcomes[0], CommitOutcome::Inserted { .. }), "{outcomes:?}");
        assert_eq!(outcomes[1], CommitOutcome::RespondentTaken);
        assert_eq!(counted(store).await, (2, 2, 160));

        // A refused review changes nothing; an approval counts the flagged visit in.
        let (campaign, questionnaire) = {
            let campaigns = store.load_campaigns().await.unwrap();
            let questionnaires = store.load_questionnaires().await.unwrap();
            (campaigns.into_iter().find(|c| c.id == c1()).unwrap(), questionnaires.into_iter().next().unwrap())
        };
        let refused = store
            .review_submission(&campaign, &questionnaire, again_at_home.id, |_| {
                Err(Error::PermissionDenied("not this reviewer's unit".into()))
            })
            .await;
        assert!(matches!(refused, Err(Error::PermissionDenied(_))), "{refused:?}");
        let approve = |before: &canvass::domain::review::SubmissionSummary| {
            assert_eq!(before.state, ReviewState::Flagged);
            Ok(ReviewChange {
                decision: Decision::Approve,
                to: ReviewState::Approved,
                reviewer: "reviewer-1".into(),
                reason: "same family, two generations".into(),
                at: Timestamp::now(),
                audit: test_audit_entry("submission", "s"),
            })
        };
        let reviewed = store.review_submission(&campaign, &questionnaire, again_at_home.id, approve).await.unwrap();
        assert_eq!(reviewed.state, ReviewState::Approved);
        assert_eq!(counted(store).await, (3, 3, 240));
        let actions = store.list_review_actions(&listing(10), None).await.unwrap();
        assert_eq!(actions.len(), 1);
        assert_eq!((actions[0].1.from, actions[0].1.to), (ReviewState::Flagged, ReviewState::Approved));
        let approved = store.list_submissions(&listing(10), ReviewState::Approved, None).await.unwrap();
        assert_eq!(approved.iter().map(|(_, s)| s.submission_id).collect::<Vec<_>>(), [again_at_home.id]);
        let unknown = store.review_submission(&campaign, &questionnaire, Uuid::from_u128(99), approve).await;
        assert!(matches!(unknown, Err(Error::NotFound { .. })), "{unknown:?}");

        // Call attempts fold into cases; a retry reads the case back.
        let attempt = NewCallAttempt {
            id: Uuid::from_u128(10),
            campaign_id: c1(),
            unit_id: UnitId::parse("jinshi-v1").unwrap(),
            respondent: RespondentHash([8; 32]),
            carrier: Carrier::ChinaMobile,
            disposition: Disposition::Refusal,
            attempted_at: Timestamp::now(),
            submitted_by: "seat-1".into(),
        };
        let logged = store.commit_call_attempt(&attempt, Timestamp::now()).await.unwrap();
        assert!(matches!(logged, AttemptOutcome::Inserted { case: Disposition::Refusal, .. }));
        let retried = store.commit_call_attempt(&attempt, Timestamp::now()).await.unwrap();
        assert!(matches!(retried, AttemptOutcome::Existing { case: Disposition::Refusal, .. }));
        assert_eq!(
            case_counts(store).await,
            [(Some(Carrier::ChinaMobile), Disposition::Refusal, 1), (Some(Carrier::ChinaTelecom), Disposition::Complete, 1)]
        );

        // A rejected phone poll is not its case's interview: without other attempts the case
        // stands as an eligible non-interview, which the next attempt replaces whatever its
        // time; approval restores the complete.
        let review = |decision, to| {
            move |_: &canvass::domain::review::SubmissionSummary| {
                Ok(ReviewChange { decision, to, reviewer: "reviewer-1".into(), reason: "call-back".into(), at: Timestamp::now(), audit: test_audit_entry("submission", "s") })
            }
        };
        store.review_submission(&campaign, &questionnaire, poll.id, review(Decision::Reject, ReviewState::Rejected)).await.unwrap();
        assert_eq!(
            case_counts(store).await,
            [(Some(Carrier::ChinaMobile), Disposition::Refusal, 1), (Some(Carrier::ChinaTelecom), Disposition::OtherNonInterview, 1)]
        );
        let before_the_poll = NewCallAttempt {
            id: Uuid::from_u128(11),
            respondent: RespondentHash([7; 32]),
            disposition: Disposition::NoAnswer,
            attempted_at: Timestamp::from_micros(poll.ended_at.as_micros() - 60_000_000),
            ..attempt.clone()
        };
        let logged = store.commit_call_attempt(&before_the_poll, Timestamp::now()).await.unwrap();
        assert!(matches!(logged, AttemptOutcome::Inserted { case: Disposition::NoAnswer, .. }), "{logged:?}");
        assert_eq!(
            case_counts(store).await,
            [(Some(Carrier::ChinaMobile), Disposition::Refusal, 1), (Some(Carrier::ChinaMobile), Disposition::NoAnswer, 1)]
        );
        store.review_submission(&campaign, &questionnaire, poll.id, review(Decision::Approve, ReviewState::Approved)).await.unwrap();
        assert_eq!(
            case_counts(store).await,
            [(Some(Carrier::ChinaMobile), Disposition::Refusal, 1), (Some(Carrier::ChinaTelecom), Disposition::Complete, 1)]
        );
        // Rejected again, it falls back to the attempt.
        store.review_submission(&campaign, &questionnaire, poll.id, review(Decision::Reject, ReviewState::Rejected)).await.unwrap();
        assert_eq!(
            case_counts(store).await,
            [(Some(Carrier::ChinaMobile), Disposition::Refusal, 1), (Some(Carrier::ChinaMobile), Disposition::NoAnswer, 1)]
        );

        // A poll an older server rejected, leaving its case complete, is withdrawn from its
        // case when a current store opens the database.
        let older = poll_of(6, 9);
        commit(store, &[&older]).await;
        set_review_state_alone(&app, older.id, 4).await;
        let complete = |counts: &[(Option<Carrier>, Disposition, i64)]| counts.iter().filter(|c| c.1 == Disposition::Complete).count();
        assert_eq!(complete(&case_counts(store).await), 1);
        let reopened = Store::open(&StoreOptions {
            url: app.database_url.clone(),
            max_connections: 2,
            acquire_timeout: std::time::Duration::from_secs(5),
        })
        .await
        .unwrap();
        assert_eq!(
            case_counts(&reopened).await,
            [
                (Some(Carrier::ChinaMobile), Disposition::Refusal, 1),
                (Some(Carrier::ChinaMobile), Disposition::NoAnswer, 1),
                (Some(Carrier::ChinaTelecom), Disposition::OtherNonInterview, 1),
            ]
        );

        // Grievances come in with their visit and are followed up.
        let mut with_grievance = visit_to(5, "hh-5");
        with_grievance.grievances.push(NewGrievance {
            category: "road_safety".into(),
            description: "no street lights on the village road".into(),
            urgency: Urgency::High,
        });
        commit(store, &[&with_grievance]).await;
        let grievances = store.list_grievances(&listing(10), Some(GrievanceStatus::Open)).await.unwrap();
        assert_eq!(grievances.len(), 1);
        let id = grievances[0].1.id.clone();
        let at = Timestamp::now();
        let resolved = store
            .update_grievance(&c1(), &id, |g| Ok((g.with_status(GrievanceStatus::Resolved, at), test_audit_entry("grievance", "g"))))
            .await
            .unwrap();
        assert_eq!((resolved.status, resolved.resolved_at), (GrievanceStatus::Resolved, Some(at)));
        let facts = store.grievance_facts(&c1(), &[UnitId::parse("jinshi-v1").unwrap()]).await.unwrap();
        assert_eq!(facts.len(), 1);
        assert_eq!((facts[0].0, facts[0].2), (GrievanceStatus::Resolved, Some(at)));
        let missing = store.update_grievance(&c1(), "no-such-grievance", |g| Ok((g, test_audit_entry("grievance", "g")))).await;
        assert!(matches!(missing, Err(Error::NotFound { .. })), "{missing:?}");
    }
}
