//! ExportSubmissions and ExportCallAttempts: what was submitted comes back decoded, in batches,
//! filtered as asked, for analysts and admins only, and without a phone number anywhere.

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::export_service_client::ExportServiceClient;
use futures::StreamExt;
use prost::Message;
use tonic::Code;

use crate::helpers::*;

const NUMBER: &str = "+8613800138000";

fn exporter(app: &TestApp, role: Role) -> ExportServiceClient<Authed> {
    ExportServiceClient::with_interceptor(
        app.channel.clone(),
        TestApp::bearer_for(&app.token(role, &[])),
    )
}

fn request(campaign: &str) -> pb::ExportSubmissionsRequest {
    pb::ExportSubmissionsRequest {
        campaign_id: campaign.into(),
        ..Default::default()
    }
}

/// Every streamed message, and every submission in them, in order.
async fn export_all(
    app: &TestApp,
    request: pb::ExportSubmissionsRequest,
) -> (
    Vec<pb::ExportSubmissionsResponse>,
    Vec<pb::ExportedSubmission>,
) {
    let mut stream = exporter(app, Role::Analyst)
        .export_submissions(request)
        .await
        .unwrap()
        .into_inner();
    let mut messages = Vec::new();
    while let Some(message) = stream.next().await {
        messages.push(message.unwrap());
    }
    let submissions = messages
        .iter()
        .flat_map(|m| m.submissions.clone())
        .collect();
    (messages, submissions)
}

fn ids(submissions: &[pb::ExportedSubmission]) -> Vec<String> {
    submissions
        .iter()
        .map(|s| s.submission_id.clone())
        .collect()
}

/// A visit, a phone poll with a known number, and a too-fast visit that a reviewer rejects.
async fn seed_three(app: &TestApp) -> (pb::SubmitVisitRequest, pb::SubmitPhonePollRequest, String) {
    app.seed().await;
    let visit_request = visit(
        "c1",
        "jinshi-v1",
        vec![
            answer("security", "b"),
            answer("police", "dk"),
            answer("visits", "refused"),
        ],
    );
    app.field_worker(&["city"])
        .submit_visit(visit_request.clone())
        .await
        .unwrap();
    let poll = phone_poll("c1", "dongshan-c2", NUMBER, vec![answer("security", "a")]);
    app.call_center(&["city"])
        .submit_phone_poll(poll.clone())
        .await
        .unwrap();
    let mut fast = visit("c1", "jinshi-v2", vec![answer("security", "e")]);
    fast.start_time = Some(ts(fast.end_time.unwrap().seconds - 1));
    let fast_id = fast.submission_id.clone();
    app.field_worker(&["city"])
        .submit_visit(fast)
        .await
        .unwrap();
    app.review("c1", &fast_id, pb::ReviewDecision::Reject).await;
    (visit_request, poll, fast_id)
}

per_backend! {
    async fn exports_equal_what_was_submitted_and_reviewed(app: TestApp) {
        let (visit_request, poll, fast_id) = seed_three(&app).await;
        let (_, got) = export_all(&app, request("c1")).await;
        assert_eq!(ids(&got), [visit_request.submission_id.clone(), poll.submission_id.clone(), fast_id.clone()]);

        let v = &got[0];
        assert_eq!(v.channel(), pb::Channel::Visit);
        assert_eq!(v.carrier(), pb::Carrier::Unspecified);
        assert_eq!(v.review_state(), pb::ReviewState::Received);
        assert_eq!(v.unit.as_ref().unwrap().name, "金石一村");
        let ancestors: Vec<_> = v.ancestors.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
        assert_eq!(ancestors, [("city", "示范市"), ("jinshi", "金石镇")]);
        let answers: Vec<_> = v
            .answers
            .iter()
            .map(|a| (a.indicator_code.as_str(), a.option_code.as_str(), a.option_kind(), a.points))
            .collect();
        assert_eq!(
            answers,
            [
                ("security", "b", pb::OptionKind::Scored, 80),
                ("police", "dk", pb::OptionKind::DontKnow, 0),
                ("visits", "refused", pb::OptionKind::Refused, 0),
            ]
        );
        assert_eq!(v.start_time, visit_request.start_time);
        assert_eq!(v.end_time, visit_request.end_time);
        assert!(v.accept_time.is_some());
        assert_eq!(v.location, visit_request.location);
        assert_eq!(v.submitted_by, "field_worker-tester");
        assert!(v.respondent_hash.is_empty());

        let p = &got[1];
        assert_eq!((p.channel(), p.carrier()), (pb::Channel::Phone, pb::Carrier::ChinaMobile));
        // The keyed hash of DOMAIN.md's test vector (the test server's key is `test-key`).
        assert_eq!(p.respondent_hash, "9a9bc7bd5c95ab9a8a8d387bf256aa823605ed762ee9a503d0d572515eef5680");
        assert_eq!(p.ancestors.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["city", "dongshan"]);

        let f = &got[2];
        assert_eq!(f.review_state(), pb::ReviewState::Rejected);
        assert_eq!(f.quality_flags, [i32::from(pb::QualityFlag::TooFast)]);
    }

    async fn filters_by_subtree_state_and_time_in_batches(app: TestApp) {
        let (visit_request, poll, fast_id) = seed_three(&app).await;
        let (_, jinshi) = export_all(&app, pb::ExportSubmissionsRequest { unit_id: "jinshi".into(), ..request("c1") }).await;
        assert_eq!(ids(&jinshi), [visit_request.submission_id.clone(), fast_id.clone()]);

        let (_, rejected) = export_all(&app, pb::ExportSubmissionsRequest {
            review_states: vec![pb::ReviewState::Rejected.into(), pb::ReviewState::Flagged.into()],
            ..request("c1")
        }).await;
        assert_eq!(ids(&rejected), std::slice::from_ref(&fast_id));

        let poll_end = poll.end_time.unwrap().seconds;
        let (_, none) = export_all(&app, pb::ExportSubmissionsRequest {
            start_time: Some(ts(poll_end + 1)),
            ..request("c1")
        }).await;
        assert!(none.is_empty());
        let (_, all) = export_all(&app, pb::ExportSubmissionsRequest {
            start_time: Some(ts(poll_end - 3600)),
            end_time: Some(ts(poll_end + 1)),
            ..request("c1")
        }).await;
        assert_eq!(all.len(), 3);

        // Batches of one: three messages, the same rows in the same order.
        let (messages, batched) = export_all(&app, pb::ExportSubmissionsRequest { batch_size: 1, ..request("c1") }).await;
        assert_eq!(messages.len(), 3);
        assert_eq!(ids(&batched), ids(&all));
    }

    async fn no_phone_number_anywhere_in_an_export(app: TestApp) {
        seed_three(&app).await;
        let bare = NUMBER.trim_start_matches("+86");
        let mut bytes = Vec::new();
        let (messages, _) = export_all(&app, request("c1")).await;
        for m in &messages {
            bytes.extend(m.encode_to_vec());
        }
        app.call_center_service(Role::CallCenter, &["city"])
            .log_call_attempt(pb::LogCallAttemptRequest {
                attempt_id: uuid::Uuid::now_v7().to_string(),
                campaign_id: "c1".into(),
                unit_id: "dongshan-c2".into(),
                phone_number: NUMBER.into(),
                carrier: pb::Carrier::ChinaMobile.into(),
                attempt_time: Some(ts(now_seconds() - 900)),
                disposition: pb::CallDisposition::NoAnswer.into(),
            })
            .await
            .unwrap();
        let mut calls = exporter(&app, Role::Admin)
            .export_call_attempts(pb::ExportCallAttemptsRequest { campaign_id: "c1".into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        let mut attempts = Vec::new();
        while let Some(m) = calls.next().await {
            let m = m.unwrap();
            bytes.extend(m.encode_to_vec());
            attempts.extend(m.call_attempts);
        }
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].disposition(), pb::CallDisposition::NoAnswer);
        assert_eq!(attempts[0].unit.as_ref().unwrap().id, "dongshan-c2");
        assert_eq!(attempts[0].respondent_hash, "9a9bc7bd5c95ab9a8a8d387bf256aa823605ed762ee9a503d0d572515eef5680");
        assert!(!bytes.is_empty());
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(bare), "the number's digits appear in the export");
    }

    async fn only_analysts_and_admins_export(app: TestApp) {
        seed_three(&app).await;
        for role in [Role::FieldWorker, Role::CallCenter, Role::Reviewer] {
            let status = exporter(&app, role).export_submissions(request("c1")).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role}");
            let status = exporter(&app, role)
                .export_call_attempts(pb::ExportCallAttemptsRequest { campaign_id: "c1".into(), ..Default::default() })
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role}");
        }
        let mut admin = exporter(&app, Role::Admin).export_submissions(request("c1")).await.unwrap().into_inner();
        assert_eq!(admin.next().await.unwrap().unwrap().submissions.len(), 3);

        let status = exporter(&app, Role::Analyst).export_submissions(request("nope")).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let status = exporter(&app, Role::Analyst)
            .export_submissions(pb::ExportSubmissionsRequest {
                unit_id: "Bad Id".into(),
                review_states: vec![0],
                start_time: Some(ts(100)),
                end_time: Some(ts(50)),
                ..request("c1")
            })
            .await
            .unwrap_err();
        let mut fields = violated_fields(&status);
        fields.sort();
        assert_eq!(fields, ["end_time", "review_states[0]", "unit_id"]);
    }
}
