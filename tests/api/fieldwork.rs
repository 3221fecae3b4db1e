//! Call outcomes and AAPOR rates, quality flags, review with its audit trail, grievances, and
//! who may do what.

use std::collections::HashMap;

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::call_center_service_client::CallCenterServiceClient;
use canvass::proto::v1::review_service_client::ReviewServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

fn call_center_client(
    app: &TestApp,
    role: Role,
    units: &[&str],
) -> CallCenterServiceClient<Authed> {
    app.call_center_service(role, units)
}

fn review_client(app: &TestApp, role: Role, units: &[&str]) -> ReviewServiceClient<Authed> {
    app.review_service(role, units)
}

fn attempt(
    unit: &str,
    number: &str,
    disposition: pb::CallDisposition,
    seconds_ago: i64,
) -> pb::LogCallAttemptRequest {
    pb::LogCallAttemptRequest {
        attempt_id: uuid::Uuid::now_v7().to_string(),
        campaign_id: "c1".into(),
        unit_id: unit.into(),
        phone_number: number.into(),
        carrier: pb::Carrier::ChinaMobile.into(),
        attempt_time: Some(ts(now_seconds() - seconds_ago)),
        disposition: disposition.into(),
    }
}

fn number(i: usize) -> String {
    format!("+86138{:08}", i)
}

async fn log_all(app: &TestApp, attempts: Vec<pb::LogCallAttemptRequest>) {
    let mut tasks = Vec::new();
    for chunk in attempts.chunks(attempts.len().div_ceil(8).max(1)) {
        let mut client = call_center_client(app, Role::CallCenter, &["city"]);
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for a in chunk {
                client.log_call_attempt(a).await.expect("attempt logged");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn rates(app: &TestApp, unit: &str) -> pb::ResponseRates {
    call_center_client(app, Role::Analyst, &[])
        .get_response_rates(pb::GetResponseRatesRequest {
            campaign_id: "c1".into(),
            unit_id: unit.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn assert_rates(actual: &[Option<f64>], expected: &[f64], precision: f64) {
    for (a, e) in actual.iter().zip(expected) {
        let a = a.expect("rate present");
        assert!((a - e).abs() < precision, "{actual:?} vs {expected:?}");
    }
}

per_backend! {
    async fn response_rates_reproduce_the_worked_example(app: TestApp) {
        app.seed().await;
        use pb::CallDisposition as D;
        // One case per number: I 400, P 50, R 150, NC 200, O 30, UH 120, UO 50, NE 100, spread
        // over two villages and several dispositions of each group.
        let plan = [
            (D::Complete, 400), (D::Partial, 50), (D::Refusal, 100), (D::BreakOff, 50),
            (D::NonContact, 150), (D::Callback, 50), (D::LanguageBarrier, 30),
            (D::NoAnswer, 80), (D::Busy, 40), (D::UnknownEligibility, 50),
            (D::Disconnected, 60), (D::NonResidential, 40),
        ];
        let mut attempts = Vec::new();
        for (disposition, count) in plan {
            for _ in 0..count {
                let i = attempts.len();
                let unit = if i % 2 == 0 { "jinshi-v1" } else { "jinshi-v2" };
                attempts.push(attempt(unit, &number(i), disposition, 600));
            }
        }
        log_all(&app, attempts).await;
        let township = rates(&app, "jinshi").await;
        let r = township.overall.unwrap();
        let c = r.counts.unwrap();
        assert_eq!(
            (c.complete, c.partial, c.refusal_and_break_off, c.non_contact, c.other, c.unknown_household, c.unknown_other, c.not_eligible),
            (400, 50, 150, 200, 30, 120, 50, 100)
        );
        let p = 5e-5;
        assert!((r.eligibility_rate.unwrap() - 0.8925).abs() < p);
        assert_rates(&[r.rr1, r.rr2, r.rr3, r.rr4, r.rr5, r.rr6], &[0.4000, 0.4500, 0.4074, 0.4584, 0.4819, 0.5422], p);
        assert_rates(&[r.coop1, r.coop2, r.coop3, r.coop4], &[0.6349, 0.7143, 0.6667, 0.7500], p);
        assert_rates(&[r.ref1, r.ref2, r.ref3], &[0.1500, 0.1528, 0.1807], p);
        assert_rates(&[r.con1, r.con2, r.con3], &[0.6300, 0.6417, 0.7590], p);
        assert_eq!(township.by_carrier.len(), 1);
        assert_eq!(township.by_carrier[0].carrier(), pb::Carrier::ChinaMobile);
        // A village holds about half; the city rolls up everything.
        let village = rates(&app, "jinshi-v1").await.overall.unwrap().counts.unwrap();
        assert_eq!(village.complete, 200);
        assert_eq!(rates(&app, "city").await.overall.unwrap().counts.unwrap().complete, 400);
        // A unit without cases has no rates, not zeros.
        let empty = rates(&app, "dongshan").await.overall.unwrap();
        assert_eq!((empty.rr1, empty.eligibility_rate), (None, None));
    }

    async fn a_fixed_eligibility_rate_is_used(app: TestApp) {
        app.seed_units().await;
        app.create_questionnaire(standard_questionnaire()).await;
        let mut c = campaign("c1", None, 1);
        c.eligibility_rate = Some(0.8);
        app.create_campaign(c).await;
        use pb::CallDisposition as D;
        let plan = [(D::Complete, 400), (D::Partial, 50), (D::Refusal, 150), (D::NonContact, 200), (D::OtherNonInterview, 30), (D::AnsweringMachine, 120), (D::UnknownEligibility, 50), (D::FaxOrDataLine, 100)];
        let mut attempts = Vec::new();
        for (disposition, count) in plan {
            for _ in 0..count {
                attempts.push(attempt("dongshan-c1", &number(attempts.len()), disposition, 600));
            }
        }
        log_all(&app, attempts).await;
        let r = rates(&app, "dongshan").await.overall.unwrap();
        assert_eq!(r.eligibility_rate, Some(0.8));
        assert_rates(&[r.rr3, r.rr4, r.ref2, r.con2], &[0.4141, 0.4658, 0.1553, 0.6522], 5e-5);
    }

    async fn case_dispositions_follow_the_latest_attempt_unless_interviewed(app: TestApp) {
        app.seed().await;
        use pb::CallDisposition as D;
        let mut client = call_center_client(&app, Role::CallCenter, &["jinshi"]);
        let n = "+8613912340000";
        let busy = attempt("jinshi-v1", n, D::Busy, 900);
        let first = client.log_call_attempt(busy.clone()).await.unwrap().into_inner();
        assert_eq!(first.case_disposition(), D::Busy);
        // A retry returns the original acknowledgement; the same id with other content is refused.
        assert_eq!(client.log_call_attempt(busy.clone()).await.unwrap().into_inner(), first);
        let mut reused = busy.clone();
        reused.disposition = D::Refusal.into();
        let status = client.log_call_attempt(reused).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists);
        let refusal = client.log_call_attempt(attempt("jinshi-v1", n, D::Refusal, 800)).await.unwrap().into_inner();
        assert_eq!(refusal.case_disposition(), D::Refusal);
        // An attempt reported late, from before the refusal, does not replace it.
        let late = client.log_call_attempt(attempt("jinshi-v1", n, D::NoAnswer, 850)).await.unwrap().into_inner();
        assert_eq!(late.case_disposition(), D::Refusal);
        // A completed poll makes the case complete; later attempts do not undo it.
        let mut poll = phone_poll("c1", "jinshi-v1", n, vec![answer("security", "a")]);
        poll.carrier = pb::Carrier::ChinaMobile.into();
        app.call_center(&["jinshi"]).submit_phone_poll(poll).await.unwrap();
        let after = client.log_call_attempt(attempt("jinshi-v1", n, D::NoAnswer, 10)).await.unwrap().into_inner();
        assert_eq!(after.case_disposition(), D::Complete);
        let counts = rates(&app, "jinshi").await.overall.unwrap().counts.unwrap();
        assert_eq!((counts.complete, counts.refusal_and_break_off, counts.unknown_household), (1, 0, 0));

        // Bad input names the field; a unit outside the token is refused.
        let mut bad = attempt("jinshi-v1", "12345", D::Unspecified, 10);
        bad.attempt_id = "x".into();
        let status = client.log_call_attempt(bad).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["attempt_id", "phone_number", "disposition"]);
        let status = client.log_call_attempt(attempt("dongshan-c1", n, D::Busy, 10)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }

    async fn simultaneous_first_attempts_on_one_number_make_one_case(app: TestApp) {
        app.seed().await;
        use pb::CallDisposition as D;
        // Several call-center seats reach the same new number at the same moment: the case does
        // not exist yet, so there is no row to lock, and it must still be counted once.
        let n = "+8613912345678";
        let seats = 12;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(seats));
        let mut tasks = Vec::new();
        for seat in 0..seats {
            let mut client = call_center_client(&app, Role::CallCenter, &["jinshi"]);
            let start = start.clone();
            let disposition = [D::Busy, D::NoAnswer, D::Refusal][seat % 3];
            tasks.push(tokio::spawn(async move {
                let logged = attempt("jinshi-v1", n, disposition, 100 + seat as i64);
                start.wait().await;
                client.log_call_attempt(logged).await.expect("attempt logged")
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let c = rates(&app, "jinshi").await.overall.unwrap().counts.unwrap();
        let cases = c.complete + c.partial + c.refusal_and_break_off + c.non_contact + c.other
            + c.unknown_household + c.unknown_other + c.not_eligible;
        assert_eq!(cases, 1, "{c:?}");
        // The latest attempt decides: seat 0 called 100 seconds ago, a busy line.
        assert_eq!(c.unknown_household + c.unknown_other, 1, "{c:?}");
    }

    async fn simultaneous_first_visits_to_a_household_count_once(app: TestApp) {
        app.seed().await;
        // Phones upload at the same moment: first visits to 8 households, 8 each, among 192
        // visits to other households. On PostgreSQL the backlog commits in batches side by
        // side, and still only one visit per household counts.
        let (households, per_household, others) = (8, 8, 192);
        let workers: Vec<_> = (0..16).map(|_| app.field_worker(&["city"])).collect();
        let calls = households * per_household + others;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(calls));
        let mut tasks = Vec::new();
        for i in 0..calls {
            let mut worker = workers[i % workers.len()].clone();
            let start = start.clone();
            let mut request = visit("c1", "jinshi-v1", vec![answer("security", "a")]);
            let shared = (i % 4 == 0).then(|| format!("hh-shared-{}", (i / 4) % households));
            if let Some(household) = &shared {
                request.household_ref = household.clone();
            }
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let ack = worker.submit_visit(request).await.expect("visit stored").into_inner();
                (shared, ack.acknowledgement.unwrap())
            }));
        }
        let mut counted: HashMap<Option<String>, usize> = HashMap::new();
        for task in tasks {
            let (shared, ack) = task.await.unwrap();
            if ack.review_state() == pb::ReviewState::Received {
                *counted.entry(shared).or_default() += 1;
            } else {
                assert_eq!(ack.review_state(), pb::ReviewState::Flagged);
                assert_eq!(ack.quality_flags, [i32::from(pb::QualityFlag::DuplicateHousehold)]);
            }
        }
        assert_eq!(counted.remove(&None), Some(others));
        assert_eq!(counted.len(), households, "{counted:?}");
        assert!(counted.values().all(|&n| n == 1), "{counted:?}");
        assert_eq!(app.stored_count("c1").await, calls);
        assert_eq!(unit_score(&app, "c1", "jinshi-v1").await.submission_count, (others + households) as i64);
    }

    async fn a_respondent_is_interviewed_once_per_campaign(app: TestApp) {
        app.seed().await;
        let mut caller = app.call_center(&["city"]);
        let first = phone_poll("c1", "jinshi-v1", "+8613700000001", vec![answer("security", "a")]);
        caller.submit_phone_poll(first.clone()).await.unwrap();
        // A retry of the same submission is still fine.
        caller.submit_phone_poll(first).await.unwrap();
        let second = phone_poll("c1", "jinshi-v2", "+8613700000001", vec![answer("security", "e")]);
        let status = caller.submit_phone_poll(second).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        assert_eq!(status.get_details_error_info().unwrap().reason, "RESPONDENT_ALREADY_INTERVIEWED");
        assert_eq!(app.stored_count("c1").await, 1);
        assert_eq!(unit_score(&app, "c1", "city").await.submission_count, 1);
    }

    async fn quality_checks_flag_crafted_submissions_only(app: TestApp) {
        app.seed_units().await;
        let mut catalog = app.admin_catalog();
        catalog
            .create_unit(pb::CreateUnitRequest { unit: Some(pb::Unit {
                id: "harbour".into(), name: "港口村".into(), kind: pb::UnitKind::Village.into(), parent_id: "jinshi".into(),
                area: Some(pb::GeoArea { latitude: 29.87, longitude: 121.55, radius_meters: 1000.0 }), ..Default::default()
            }) })
            .await
            .unwrap();
        app.create_questionnaire(standard_questionnaire()).await;
        app.create_campaign(campaign("c1", None, 1)).await;
        let mut worker = app.field_worker(&["city"]);
        let answers = || vec![answer("security", "a"), answer("police", "a"), answer("visits", "a")];
        let clean = visit("c1", "harbour", answers());
        let ack = worker.submit_visit(clean).await.unwrap().into_inner().acknowledgement.unwrap();
        assert_eq!((ack.review_state(), ack.quality_flags.len()), (pb::ReviewState::Received, 0));

        let mut too_fast = visit("c1", "harbour", answers());
        too_fast.start_time = Some(ts(too_fast.end_time.unwrap().seconds - 5));
        let mut outside = visit("c1", "harbour", answers());
        outside.location = Some(pb::GeoLocation { latitude: 29.95, longitude: 121.55, accuracy_meters: 5.0 });
        let mut vague = visit("c1", "harbour", answers());
        vague.location.as_mut().unwrap().accuracy_meters = 500.0;
        let mut late = visit("c1", "harbour", answers());
        late.start_time = Some(ts(now_seconds() - 5 * 86_400));
        late.end_time = Some(ts(now_seconds() - 5 * 86_400 + 600));
        let first_visit = visit("c1", "harbour", answers());
        let mut same_household = visit("c1", "harbour", answers());
        same_household.household_ref = first_visit.household_ref.clone();
        worker.submit_visit(first_visit).await.unwrap();
        for (request, flag) in [
            (too_fast, pb::QualityFlag::TooFast),
            (outside, pb::QualityFlag::OutsideUnitArea),
            (vague, pb::QualityFlag::PoorGpsAccuracy),
            (late, pb::QualityFlag::LateUpload),
            (same_household, pb::QualityFlag::DuplicateHousehold),
        ] {
            let ack = worker.submit_visit(request).await.unwrap().into_inner().acknowledgement.unwrap();
            assert_eq!(ack.review_state(), pb::ReviewState::Flagged);
            assert_eq!(ack.quality_flags, [i32::from(flag)], "{flag:?}");
        }
        // Flagged submissions are stored but do not count.
        assert_eq!(app.stored_count("c1").await, 7);
        assert_eq!(unit_score(&app, "c1", "harbour").await.submission_count, 2);
        // The review queue pages through all five flagged submissions, oldest first.
        let mut reviewer = review_client(&app, Role::Reviewer, &["jinshi"]);
        let mut seen = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = reviewer
                .list_submissions(pb::ListSubmissionsRequest { campaign_id: "c1".into(), page_size: 2, page_token, ..Default::default() })
                .await.unwrap().into_inner();
            assert!(page.submissions.len() <= 2);
            seen.extend(page.submissions.into_iter().map(|s| s.quality_flags));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let expected: Vec<Vec<i32>> = [pb::QualityFlag::TooFast, pb::QualityFlag::OutsideUnitArea, pb::QualityFlag::PoorGpsAccuracy, pb::QualityFlag::LateUpload, pb::QualityFlag::DuplicateHousehold]
            .into_iter().map(|f| vec![i32::from(f)]).collect();
        assert_eq!(seen, expected);
        let only_late = reviewer
            .list_submissions(pb::ListSubmissionsRequest { campaign_id: "c1".into(), quality_flag: pb::QualityFlag::LateUpload.into(), ..Default::default() })
            .await.unwrap().into_inner();
        assert_eq!(only_late.submissions.len(), 1);
        // A village without an area uses its township's (none here): no area flag.
        let ack = worker.submit_visit(visit("c1", "jinshi-v1", answers())).await.unwrap().into_inner().acknowledgement.unwrap();
        assert_eq!(ack.review_state(), pb::ReviewState::Received);
    }

    async fn review_moves_aggregates_and_keeps_an_audit_trail(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        worker.submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")])).await.unwrap();
        let mut fast = visit("c1", "jinshi-v1", vec![answer("security", "e")]);
        fast.start_time = fast.end_time;
        worker.submit_visit(fast.clone()).await.unwrap();
        let before = unit_score(&app, "c1", "jinshi").await;
        assert_eq!((before.submission_count, before.composite_score), (1, Some(100.0)));

        let mut reviewer = review_client(&app, Role::Reviewer, &["jinshi"]);
        let flagged = reviewer
            .list_submissions(pb::ListSubmissionsRequest { campaign_id: "c1".into(), ..Default::default() })
            .await.unwrap().into_inner();
        assert_eq!(flagged.submissions.len(), 1);
        assert_eq!(flagged.submissions[0].submission_id, fast.submission_id);
        assert_eq!(flagged.submissions[0].quality_flags, [i32::from(pb::QualityFlag::TooFast)]);

        let review = |decision: pb::ReviewDecision, reason: &str| pb::ReviewSubmissionRequest {
            campaign_id: "c1".into(), submission_id: fast.submission_id.clone(), decision: decision.into(), reason: reason.into(),
        };
        let status = reviewer.review_submission(review(pb::ReviewDecision::Approve, " ")).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["reason"]);
        let approved = reviewer.review_submission(review(pb::ReviewDecision::Approve, "回访确认属实")).await.unwrap().into_inner();
        assert_eq!(approved.review_state(), pb::ReviewState::Approved);
        let after = unit_score(&app, "c1", "jinshi").await;
        assert_eq!((after.submission_count, after.composite_score), (2, Some(50.0)));
        let status = reviewer.review_submission(review(pb::ReviewDecision::Approve, "again")).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);

        let rejected = reviewer.review_submission(review(pb::ReviewDecision::Reject, "录音显示未完成访问")).await.unwrap().into_inner();
        assert_eq!(rejected.review_state(), pb::ReviewState::Rejected);
        assert_eq!(unit_score(&app, "c1", "jinshi").await, before, "rejecting restores the figures exactly");

        let actions = reviewer
            .list_review_actions(pb::ListReviewActionsRequest { campaign_id: "c1".into(), submission_id: fast.submission_id.clone(), ..Default::default() })
            .await.unwrap().into_inner().actions;
        let trail: Vec<_> = actions.iter().map(|a| (a.decision(), a.from_state(), a.to_state(), a.reason.as_str(), a.reviewer.as_str())).collect();
        assert_eq!(trail, [
            (pb::ReviewDecision::Approve, pb::ReviewState::Flagged, pb::ReviewState::Approved, "回访确认属实", "reviewer-tester"),
            (pb::ReviewDecision::Reject, pb::ReviewState::Approved, pb::ReviewState::Rejected, "录音显示未完成访问", "reviewer-tester"),
        ]);
        assert!(actions.iter().all(|a| a.action_time.is_some()));

        // A reviewer for another township cannot act on this one.
        let mut outsider = review_client(&app, Role::Reviewer, &["dongshan"]);
        let status = outsider.review_submission(review(pb::ReviewDecision::Approve, "x")).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = reviewer
            .review_submission(pb::ReviewSubmissionRequest { submission_id: uuid::Uuid::now_v7().to_string(), ..review(pb::ReviewDecision::Reject, "x") })
            .await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }

    async fn grievances_are_counted_and_followed_up(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        let mut v = visit("c1", "jinshi-v1", vec![answer("security", "b")]);
        v.grievances = vec![
            pb::GrievanceReport { category: "road_safety".into(), description: "村口路灯坏了".into(), urgency: pb::Urgency::High.into() },
            pb::GrievanceReport { category: "noise".into(), description: "夜间施工噪音".into(), urgency: pb::Urgency::Low.into() },
        ];
        worker.submit_visit(v.clone()).await.unwrap();
        worker.submit_visit(v.clone()).await.unwrap(); // a retry creates nothing new
        let mut other = visit("c1", "dongshan-c1", vec![answer("security", "b")]);
        other.grievances = vec![pb::GrievanceReport { category: "water".into(), description: "停水".into(), urgency: pb::Urgency::Medium.into() }];
        worker.submit_visit(other).await.unwrap();
        let mut bad = visit("c1", "jinshi-v1", vec![answer("security", "b")]);
        bad.grievances = vec![pb::GrievanceReport { category: "Bad Category".into(), description: String::new(), urgency: 0 }];
        let status = worker.submit_visit(bad).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["grievances[0].category", "grievances[0].description", "grievances[0].urgency"]);

        let mut staff = review_client(&app, Role::Reviewer, &["city"]);
        let listed = staff
            .list_grievances(pb::ListGrievancesRequest { campaign_id: "c1".into(), unit_id: "jinshi".into(), ..Default::default() })
            .await.unwrap().into_inner().grievances;
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|g| g.status() == pb::GrievanceStatus::Open && g.submission_id == v.submission_id));
        let update = |id: &str, status: pb::GrievanceStatus| pb::UpdateGrievanceRequest { campaign_id: "c1".into(), grievance_id: id.into(), status: status.into() };
        staff.update_grievance(update(&listed[0].id, pb::GrievanceStatus::InProgress)).await.unwrap();
        let resolved = staff.update_grievance(update(&listed[0].id, pb::GrievanceStatus::Resolved)).await.unwrap().into_inner();
        assert!(resolved.resolve_time.is_some());
        let status = staff.update_grievance(update("no-such-grievance", pb::GrievanceStatus::Resolved)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);

        let summary = |unit: &str| pb::GetGrievanceSummaryRequest { campaign_id: "c1".into(), unit_id: unit.into() };
        let jinshi = staff.get_grievance_summary(summary("jinshi")).await.unwrap().into_inner();
        assert_eq!((jinshi.raised, jinshi.open, jinshi.in_progress, jinshi.resolved), (2, 1, 0, 1));
        let days = jinshi.median_days_to_resolve.unwrap();
        assert!((0.0..0.01).contains(&days), "resolved within the test: {days}");
        let city = staff.get_grievance_summary(summary("city")).await.unwrap().into_inner();
        assert_eq!((city.raised, city.open), (3, 2));
        let dongshan = staff.get_grievance_summary(summary("dongshan")).await.unwrap().into_inner();
        assert_eq!((dongshan.raised, dongshan.resolved, dongshan.median_days_to_resolve), (1, 0, None));
    }

    async fn only_reviewers_review_and_reviewers_do_not_submit(app: TestApp) {
        app.seed().await;
        let list = || pb::ListSubmissionsRequest { campaign_id: "c1".into(), ..Default::default() };
        for role in [Role::FieldWorker, Role::CallCenter, Role::Analyst] {
            let status = review_client(&app, role, &["city"]).list_submissions(list()).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        }
        let reviewer = app.token(Role::Reviewer, &["city"]);
        let status = app.submissions_as(Some(&reviewer)).submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")])).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = call_center_client(&app, Role::Reviewer, &["city"]).log_call_attempt(attempt("jinshi-v1", "+8613800000000", pb::CallDisposition::Busy, 5)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        review_client(&app, Role::Reviewer, &["city"]).list_submissions(list()).await.unwrap();
        review_client(&app, Role::Admin, &[]).list_submissions(list()).await.unwrap();
    }
}
