//! Visits and phone polls: acknowledgements, idempotent retries and every kind of bad input.

use std::collections::BTreeMap;

use canvass::domain::cells::Stratum;
use canvass::domain::channel::{Carrier, Channel};
use canvass::domain::ids::{CampaignId, UnitId};
use canvass::domain::review::ReviewState;
use canvass::domain::submission::{NewSubmission, Source};
use canvass::domain::time::Timestamp;
use canvass::proto::v1 as pb;
use canvass::store::CommitOutcome;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

fn full_answers() -> Vec<pb::Answer> {
    vec![
        answer("security", "b"),
        answer("police", "a"),
        answer("visits", "dk"),
    ]
}

per_backend! {
    async fn visits_and_phone_polls_are_acknowledged_and_stored(app: TestApp) {
        app.seed().await;
        let request = visit("c1", "jinshi-v1", full_answers());
        let ack = app
            .field_worker(&["jinshi"])
            .submit_visit(request.clone())
            .await
            .unwrap()
            .into_inner()
            .acknowledgement
            .unwrap();
        assert_eq!(ack.submission_id, request.submission_id);
        assert!(ack.accept_time.is_some());

        let poll = phone_poll("c1", "dongshan-c2", "+8613800138000", full_answers());
        let ack = app.call_center(&["dongshan"]).submit_phone_poll(poll.clone()).await.unwrap().into_inner();
        assert_eq!(ack.acknowledgement.unwrap().submission_id, poll.submission_id);

        let stored = stored_submissions(&app, "c1").await;
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].answers.get("security").map(String::as_str), Some("b"));
        assert_eq!(stored[1].unit_id.as_str(), "dongshan-c2");
    }

    async fn stored_rows_keep_channel_carrier_and_review_state(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        worker.submit_visit(visit("c1", "jinshi-v1", full_answers())).await.unwrap();
        let mut poll = phone_poll("c1", "jinshi-v2", "+8613800138000", full_answers());
        poll.carrier = pb::Carrier::ChinaUnicom.into();
        app.call_center(&["city"]).submit_phone_poll(poll).await.unwrap();
        // Too short an interview is stored flagged, waiting for review.
        let mut too_fast = visit("c1", "jinshi-v1", full_answers());
        too_fast.start_time = Some(ts(too_fast.end_time.unwrap().seconds - 5));
        let ack = worker.submit_visit(too_fast).await.unwrap().into_inner().acknowledgement.unwrap();
        assert_eq!(ack.review_state(), pb::ReviewState::Flagged);

        let stored: Vec<_> = stored_submissions(&app, "c1").await.into_iter().map(|s| (s.channel, s.carrier, s.review_state)).collect();
        assert_eq!(
            stored,
            [
                (Channel::Visit, None, ReviewState::Received),
                (Channel::Phone, Some(Carrier::ChinaUnicom), ReviewState::Received),
                (Channel::Visit, None, ReviewState::Flagged),
            ]
        );
    }

    async fn a_retry_returns_the_original_acknowledgement_and_writes_nothing(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        let request = visit("c1", "jinshi-v1", full_answers());
        let first = worker.submit_visit(request.clone()).await.unwrap().into_inner();
        let again = worker.submit_visit(request.clone()).await.unwrap().into_inner();
        assert_eq!(first, again, "the retry gets the original acknowledgement");
        assert_eq!(app.stored_count("c1").await, 1);

        let mut changed = request.clone();
        changed.answers[0].option_code = "e".into();
        let status = worker.submit_visit(changed).await.unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        assert_eq!(status.get_details_error_info().unwrap().reason, "SUBMISSION_ID_REUSED");
        let stored = stored_submissions(&app, "c1").await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].answers["security"], "b", "the original content is kept");
    }

    async fn a_retry_after_review_returns_the_review_state_as_it_stands(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        let mut request = visit("c1", "jinshi-v1", full_answers());
        request.start_time = request.end_time;
        let first = worker.submit_visit(request.clone()).await.unwrap().into_inner().acknowledgement.unwrap();
        assert_eq!((first.review_state(), first.quality_flags.clone()), (pb::ReviewState::Flagged, vec![i32::from(pb::QualityFlag::TooFast)]));
        let mut poll = phone_poll("c1", "jinshi-v2", "+8613800138000", full_answers());
        poll.carrier = pb::Carrier::ChinaTelecom.into();
        let mut caller = app.call_center(&["city"]);
        let poll_ack = caller.submit_phone_poll(poll.clone()).await.unwrap().into_inner().acknowledgement.unwrap();
        assert_eq!(poll_ack.review_state(), pb::ReviewState::Received);

        // What a retry hears after each decision: the first acknowledgement with the current
        // state, from a unary call and from an upload alike.
        let as_it_stands = |ack: &pb::Acknowledgement, state: pb::ReviewState| pb::Acknowledgement { review_state: state.into(), ..ack.clone() };
        let uploaded = |items: Vec<pb::UploadSubmissionsRequest>| {
            let mut admin = app.submissions_as(Some(&app.token(canvass::auth::Role::Admin, &[])));
            async move {
                let mut results = admin.upload_submissions(futures::stream::iter(items)).await.unwrap().into_inner();
                let mut acks = Vec::new();
                while let Some(item) = results.message().await.unwrap() {
                    match item.result {
                        Some(pb::upload_submissions_response::Result::Acknowledgement(ack)) => acks.push((item.index, ack)),
                        other => panic!("item {} not acknowledged: {other:?}", item.index),
                    }
                }
                acks.sort_by_key(|(index, _)| *index);
                acks.into_iter().map(|(_, ack)| ack).collect::<Vec<_>>()
            }
        };
        let both = || vec![
            pb::UploadSubmissionsRequest { submission: Some(pb::upload_submissions_request::Submission::Visit(request.clone())) },
            pb::UploadSubmissionsRequest { submission: Some(pb::upload_submissions_request::Submission::PhonePoll(poll.clone())) },
        ];
        use pb::ReviewDecision::{Approve, Reject};
        use pb::ReviewState::{Approved, Received, Rejected};
        let steps = [
            (None, Approved, Received),
            (Some((&request.submission_id, Reject)), Rejected, Received),
            (Some((&poll.submission_id, Reject)), Rejected, Rejected),
            (Some((&poll.submission_id, Approve)), Rejected, Approved),
        ];
        app.review("c1", &request.submission_id, Approve).await;
        for (decision, visit_state, poll_state) in steps {
            if let Some((id, decision)) = decision {
                app.review("c1", id, decision).await;
            }
            let expected = [as_it_stands(&first, visit_state), as_it_stands(&poll_ack, poll_state)];
            let visit_again = worker.submit_visit(request.clone()).await.unwrap().into_inner().acknowledgement.unwrap();
            // A rejected poll's respondent is still taken by it: its own retry is not refused.
            let poll_again = caller.submit_phone_poll(poll.clone()).await.unwrap().into_inner().acknowledgement.unwrap();
            assert_eq!([visit_again, poll_again], expected, "{visit_state:?}, {poll_state:?}");
            assert_eq!(uploaded(both()).await, expected, "{visit_state:?}, {poll_state:?} uploaded");
        }
        // Retries wrote nothing, and the figures follow the reviews alone: the poll counts.
        assert_eq!(app.stored_count("c1").await, 2);
        assert_eq!(unit_score(&app, "c1", "jinshi").await.submission_count, 1);
    }

    async fn concurrent_duplicates_are_stored_once(app: TestApp) {
        app.seed().await;
        let request = visit("c1", "jinshi-v1", full_answers());
        let mut conflicting = request.clone();
        conflicting.household_ref = "another household".into();
        let mut calls = Vec::new();
        for i in 0..20 {
            let mut client = app.field_worker(&["city"]);
            let r = if i == 7 { conflicting.clone() } else { request.clone() };
            calls.push(tokio::spawn(async move { client.submit_visit(r).await }));
        }
        let mut acks = Vec::new();
        let mut conflicts = 0;
        for call in calls {
            match call.await.unwrap() {
                Ok(response) => acks.push(response.into_inner()),
                Err(status) => {
                    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
                    conflicts += 1;
                }
            }
        }
        assert_eq!(app.stored_count("c1").await, 1);
        assert!(acks.windows(2).all(|w| w[0] == w[1]), "every acknowledgement is the same");
        // Whichever content landed first wins; the other content is refused.
        assert!(conflicts == 1 || conflicts == 19, "conflicts: {conflicts}");
    }

    async fn phone_numbers_are_never_stored_in_plain_text(app: TestApp) {
        app.seed().await;
        let mut caller = app.call_center(&["city"]);
        caller.submit_phone_poll(phone_poll("c1", "jinshi-v1", "+8613912345678", full_answers())).await.unwrap();
        let mut app = app;
        app.stop().await;
        if let Some(path) = app.database_url.strip_prefix("sqlite://") {
            for file in [path.to_string(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(!text.contains("13912345678"), "{file} holds the plain number");
                }
            }
        }
    }

    async fn bad_submissions_name_the_field_and_write_nothing(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        type Edit = fn(&mut pb::SubmitVisitRequest);
        let cases: Vec<(&str, Edit)> = vec![
            ("submission_id", |r| r.submission_id = String::new()),
            ("submission_id", |r| r.submission_id = "visit-42".into()),
            ("campaign_id", |r| r.campaign_id = "C 1".into()),
            ("answers[1].indicator_code", |r| r.answers[1].indicator_code = "weather".into()),
            ("answers[0].option_code", |r| r.answers[0].option_code = "z".into()),
            ("answers[2].indicator_code", |r| r.answers[2].indicator_code = "security".into()),
            ("answers", |r| r.answers.clear()),
            ("location.latitude", |r| r.location.as_mut().unwrap().latitude = 91.0),
            ("location.latitude", |r| r.location.as_mut().unwrap().latitude = f64::NAN),
            ("location.longitude", |r| r.location.as_mut().unwrap().longitude = -180.5),
            ("location.longitude", |r| r.location.as_mut().unwrap().longitude = f64::INFINITY),
            ("location.accuracy_meters", |r| r.location.as_mut().unwrap().accuracy_meters = -3.0),
            ("end_time", |r| r.end_time = Some(ts(r.start_time.unwrap().seconds - 1))),
            ("end_time", |r| {
                r.start_time = Some(ts(now_seconds() + 86_400));
                r.end_time = Some(ts(now_seconds() + 86_400 + 600));
            }),
            ("start_time", |r| r.start_time = None),
            ("start_time", |r| r.start_time = Some(prost_types::Timestamp { seconds: 0, nanos: -5 })),
            ("household_ref", |r| r.household_ref = "  ".into()),
        ];
        for (field, edit) in cases {
            let mut request = visit("c1", "jinshi-v1", full_answers());
            edit(&mut request);
            let status = worker.submit_visit(request).await.unwrap_err();
            assert_eq!(violated_fields(&status), [field], "{status:?}");
        }

        let mut caller = app.call_center(&["city"]);
        for (number, carrier) in [("15912345678", 1), ("+86 159 1234 5678", 1), ("+0159123456", 1), ("", 1)] {
            let mut poll = phone_poll("c1", "jinshi-v1", number, full_answers());
            poll.carrier = carrier;
            let status = caller.submit_phone_poll(poll).await.unwrap_err();
            assert_eq!(violated_fields(&status), ["phone_number"]);
            assert!(!status.message().contains("1234"), "the number is not echoed: {status:?}");
        }
        let mut poll = phone_poll("c1", "jinshi-v1", "+8613800138000", full_answers());
        poll.carrier = 0;
        let status = caller.submit_phone_poll(poll).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["carrier"]);

        // Several problems at once are all reported.
        let mut request = visit("c1", "jinshi-v1", full_answers());
        request.submission_id = "x".into();
        request.answers[0].option_code = "zz".into();
        request.answers[1].indicator_code = "nope".into();
        let status = worker.submit_visit(request).await.unwrap_err();
        let fields = violated_fields(&status);
        assert!(fields.contains(&"submission_id".to_string()), "{fields:?}");

        assert_eq!(app.stored_count("c1").await, 0);
    }

    async fn unknown_campaign_or_unit_is_not_found(app: TestApp) {
        app.seed().await;
        let mut admin = app.submissions_as(Some(&app.token(canvass::auth::Role::Admin, &[])));
        let status = admin.submit_visit(visit("c9", "jinshi-v1", full_answers())).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        let status = admin.submit_visit(visit("c1", "atlantis", full_answers())).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        let mut worker = app.field_worker(&["city"]);
        let status = worker.submit_visit(visit("c9", "jinshi-v1", full_answers())).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(app.stored_count("c1").await, 0);
    }

    async fn closed_campaigns_and_units_outside_the_scope_are_failed_preconditions(app: TestApp) {
        app.seed().await;
        let mut closed = campaign("old", None, 1);
        closed.open_time = Some(ts(now_seconds() - 90 * 86_400));
        closed.close_time = Some(ts(now_seconds() - 60 * 86_400));
        app.create_campaign(closed).await;
        let mut jinshi_only = campaign("jinshi-round", None, 1);
        jinshi_only.scope_unit_id = "jinshi".into();
        app.create_campaign(jinshi_only).await;

        let mut worker = app.field_worker(&["city"]);
        let status = worker.submit_visit(visit("old", "jinshi-v1", full_answers())).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        let violation = &status.get_details_precondition_failure().unwrap().violations[0];
        assert_eq!(violation.r#type, "CAMPAIGN_NOT_OPEN");

        // Interviews recorded inside the window are still accepted when uploaded later.
        let mut late_upload = visit("old", "jinshi-v1", full_answers());
        late_upload.start_time = Some(ts(now_seconds() - 70 * 86_400));
        late_upload.end_time = Some(ts(now_seconds() - 70 * 86_400 + 600));
        worker.submit_visit(late_upload).await.unwrap();

        let status = worker.submit_visit(visit("jinshi-round", "dongshan-c1", full_answers())).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let violation = &status.get_details_precondition_failure().unwrap().violations[0];
        assert_eq!(violation.r#type, "UNIT_OUT_OF_CAMPAIGN_SCOPE");
        assert_eq!(app.stored_count("old").await, 1);
        assert_eq!(app.stored_count("jinshi-round").await, 0);
    }

    async fn a_batch_that_fails_stores_nothing_and_the_writer_goes_on(app: TestApp) {
        app.seed().await;
        // A batch commits whole or not at all: one of these visits names a unit the database
        // does not have (the API refuses that earlier; the schema is the last line).
        let good = stored_visit("jinshi-v1", 1);
        let orphan = stored_visit("no-such-unit", 2);
        let failed = app.store.commit_submissions(&[&good, &orphan], Timestamp::now(), &canvass::ingest::admit).await;
        assert!(failed.is_err(), "{failed:?}");
        assert_eq!(app.stored_count("c1").await, 0);
        // The writer is usable again; the good visit commits on its own and counts once.
        let outcomes = app.store.commit_submissions(&[&good], Timestamp::now(), &canvass::ingest::admit).await.unwrap();
        assert!(matches!(outcomes[..], [CommitOutcome::Inserted { .. }]), "{outcomes:?}");
        assert_eq!(app.stored_count("c1").await, 1);
        assert_eq!(unit_score(&app, "c1", "jinshi-v1").await.submission_count, 1);
    }
}

/// A visit to campaign c1 as the store receives it, past the API's checks.
fn stored_visit(unit: &str, n: u128) -> NewSubmission {
    let now = Timestamp::now().as_micros();
    NewSubmission {
        id: uuid::Uuid::from_u128(n),
        campaign_id: CampaignId::parse("c1").unwrap(),
        unit_id: UnitId::parse(unit).unwrap(),
        source: Source::Visit {
            household_ref: format!("hh-{n}"),
            location: None,
        },
        started_at: Timestamp::from_micros(now - 600_000_000),
        ended_at: Timestamp::from_micros(now - 60_000_000),
        answers: Vec::new(),
        attributes: BTreeMap::new(),
        stratum: Stratum::default(),
        grievances: Vec::new(),
        flags: Vec::new(),
        submitted_by: "worker-1".into(),
    }
}
