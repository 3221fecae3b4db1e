//! UploadSubmissions: one result per item, resuming a cut upload, and backpressure on a client
//! that stops reading.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::submission_service_client::SubmissionServiceClient;
use canvass::proto::v1::upload_submissions_request::Submission;
use canvass::proto::v1::upload_submissions_response::Result as ItemResult;
use futures::StreamExt;
use prost::Message;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::*;

fn answers() -> Vec<pb::Answer> {
    vec![
        answer("security", "a"),
        answer("police", "b"),
        answer("visits", "a"),
    ]
}

fn of_visit(v: pb::SubmitVisitRequest) -> pb::UploadSubmissionsRequest {
    pb::UploadSubmissionsRequest {
        submission: Some(Submission::Visit(v)),
    }
}

fn of_poll(p: pb::SubmitPhonePollRequest) -> pb::UploadSubmissionsRequest {
    pb::UploadSubmissionsRequest {
        submission: Some(Submission::PhonePoll(p)),
    }
}

/// Uploads `items` in one stream and returns every result, ordered by index.
async fn upload(
    client: &mut SubmissionServiceClient<Authed>,
    items: Vec<pb::UploadSubmissionsRequest>,
) -> Vec<pb::UploadSubmissionsResponse> {
    let mut results = client
        .upload_submissions(futures::stream::iter(items))
        .await
        .expect("the upload starts")
        .into_inner();
    let mut all = Vec::new();
    while let Some(result) = results.message().await.expect("the stream ends cleanly") {
        all.push(result);
    }
    all.sort_by_key(|r| r.index);
    all
}

fn ack(result: &pb::UploadSubmissionsResponse) -> &pb::Acknowledgement {
    match &result.result {
        Some(ItemResult::Acknowledgement(ack)) => ack,
        other => panic!("item {} not acknowledged: {other:?}", result.index),
    }
}

/// An item's error as the status a unary call returns, read with the same helpers.
fn error(result: &pb::UploadSubmissionsResponse) -> Status {
    match &result.result {
        Some(ItemResult::Error(e)) => Status::with_details(
            Code::from(e.code),
            e.message.clone(),
            e.encode_to_vec().into(),
        ),
        other => panic!("item {} did not fail: {other:?}", result.index),
    }
}

async fn stored_ids(app: &TestApp, campaign: &str) -> Vec<String> {
    stored_submissions(app, campaign)
        .await
        .into_iter()
        .map(|s| s.submission_id.to_string())
        .collect()
}

/// Waits until `counter` has not moved for a while; returns where it stopped.
async fn wait_until_stalled(counter: &AtomicUsize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut still_since) = (counter.load(Ordering::SeqCst), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = counter.load(Ordering::SeqCst);
        if now != last {
            (last, still_since) = (now, Instant::now());
        } else if still_since.elapsed() > Duration::from_millis(500) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the producer never stalled ({now} taken)"
        );
    }
}

per_backend! {
    async fn each_item_gets_its_own_result(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["city"]);
        let first = visit("c1", "jinshi-v1", answers());
        let second = visit("c1", "dongshan-c2", answers());
        let mut invalid = visit("c1", "jinshi-v2", answers());
        invalid.answers[0].option_code = "z".into();
        let poll = phone_poll("c1", "jinshi-v1", "+8613800138000", answers());
        let unknown_campaign = visit("c9", "jinshi-v1", answers());
        let items = vec![
            of_visit(first.clone()),
            of_visit(second.clone()),
            of_visit(first.clone()),
            of_visit(invalid.clone()),
            of_poll(poll.clone()),
            pb::UploadSubmissionsRequest { submission: None },
            of_visit(unknown_campaign.clone()),
        ];
        let results = upload(&mut worker, items).await;
        let indexes: Vec<i64> = results.iter().map(|r| r.index).collect();
        assert_eq!(indexes, [0, 1, 2, 3, 4, 5, 6], "one result per item");
        let ids: Vec<&str> = results.iter().map(|r| r.submission_id.as_str()).collect();
        assert_eq!(ids, [
            first.submission_id.as_str(),
            &second.submission_id,
            &first.submission_id,
            &invalid.submission_id,
            &poll.submission_id,
            "",
            &unknown_campaign.submission_id,
        ]);
        assert_eq!(ack(&results[0]).submission_id, first.submission_id);
        assert_eq!(ack(&results[1]).submission_id, second.submission_id);
        assert_eq!(ack(&results[2]), ack(&results[0]), "a duplicate gets the original acknowledgement");
        assert_eq!(violated_fields(&error(&results[3])), ["answers[0].option_code"]);
        assert_eq!(error(&results[4]).code(), Code::PermissionDenied, "a field worker may not upload polls");
        assert_eq!(violated_fields(&error(&results[5])), ["submission"]);
        assert_eq!(error(&results[6]).code(), Code::NotFound);
        assert_eq!(app.stored_count("c1").await, 2);
        let original = ack(&results[0]).clone();

        // Later, the same id with other content is refused; the same content is acknowledged.
        let mut changed = first.clone();
        changed.answers[0].option_code = "e".into();
        let results = upload(&mut worker, vec![of_visit(changed), of_visit(first)]).await;
        let conflict = error(&results[0]);
        assert_eq!(conflict.code(), Code::AlreadyExists, "{conflict:?}");
        assert_eq!(conflict.get_details_error_info().unwrap().reason, "SUBMISSION_ID_REUSED");
        assert_eq!(ack(&results[1]), &original);
        assert_eq!(app.stored_count("c1").await, 2);
    }

    async fn each_item_needs_the_role_of_its_kind(app: TestApp) {
        app.seed().await;
        let mut call_center = app.call_center(&["city"]);
        let results = upload(&mut call_center, vec![
            of_visit(visit("c1", "jinshi-v1", answers())),
            of_poll(phone_poll("c1", "jinshi-v1", "+8613800138001", answers())),
        ]).await;
        assert_eq!(error(&results[0]).code(), Code::PermissionDenied);
        ack(&results[1]);

        let mut admin = app.submissions_as(Some(&app.token(Role::Admin, &[])));
        let results = upload(&mut admin, vec![
            of_visit(visit("c1", "jinshi-v1", answers())),
            of_poll(phone_poll("c1", "jinshi-v1", "+8613800138002", answers())),
        ]).await;
        results.iter().for_each(|r| { ack(r); });

        // A worker's token covers only its units, item by item.
        let mut jinshi_worker = app.field_worker(&["jinshi"]);
        let results = upload(&mut jinshi_worker, vec![
            of_visit(visit("c1", "dongshan-c1", answers())),
            of_visit(visit("c1", "jinshi-v2", answers())),
        ]).await;
        assert_eq!(error(&results[0]).code(), Code::PermissionDenied);
        ack(&results[1]);

        let mut analyst = app.submissions_as(Some(&app.token(Role::Analyst, &[])));
        let status = analyst
            .upload_submissions(futures::stream::iter(vec![of_visit(visit("c1", "jinshi-v1", answers()))]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(app.stored_count("c1").await, 4);
    }

    async fn a_cut_upload_resumed_stores_every_item_once(app: TestApp) {
        app.seed().await;
        let units = ["jinshi-v1", "jinshi-v2", "dongshan-c1", "dongshan-c2"];
        let visits: Vec<_> = (0..60).map(|i| visit("c1", units[i % units.len()], answers())).collect();

        // The phone sends its whole queue, then loses its connection after 15 acknowledgements.
        let (queue, requests) = tokio::sync::mpsc::channel(visits.len());
        for v in &visits {
            queue.send(of_visit(v.clone())).await.unwrap();
        }
        let mut worker = app.field_worker(&["city"]);
        let mut results = worker.upload_submissions(ReceiverStream::new(requests)).await.unwrap().into_inner();
        let mut acknowledged = HashSet::new();
        while acknowledged.len() < 15 {
            let result = results.message().await.unwrap().expect("more results");
            acknowledged.insert(ack(&result).submission_id.clone());
        }
        drop(results);
        drop(queue);

        // It resends what was not acknowledged; some of it may have been stored already.
        let rest: Vec<_> = visits
            .iter()
            .filter(|v| !acknowledged.contains(&v.submission_id))
            .map(|v| of_visit(v.clone()))
            .collect();
        let resent = upload(&mut app.field_worker(&["city"]), rest).await;
        assert_eq!(resent.len(), 45);
        resent.iter().for_each(|r| { ack(r); });

        let stored = stored_ids(&app, "c1").await;
        assert_eq!(stored.len(), 60, "every item stored exactly once");
        let expected: HashSet<&str> = visits.iter().map(|v| v.submission_id.as_str()).collect();
        assert_eq!(stored.iter().map(String::as_str).collect::<HashSet<_>>(), expected);
        let city = app.analyst()
            .get_unit_score(pb::GetUnitScoreRequest { campaign_id: "c1".into(), unit_id: "city".into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(city.submission_count, 60, "aggregates count each item once");
    }

    async fn a_client_that_stops_reading_stops_the_server_reading(app: TestApp) {
        app.seed().await;
        const QUEUED: usize = 20_000;
        let (queue, requests) = tokio::sync::mpsc::channel(1);
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = taken.clone();
        let requests = ReceiverStream::new(requests).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let producer = tokio::spawn(async move {
            for _ in 0..QUEUED {
                if queue.send(of_visit(visit("c1", "jinshi-v1", answers()))).await.is_err() {
                    break;
                }
            }
        });
        // A phone's HTTP/2 client typically accepts 64 KiB of unread results per stream.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.address))
            .unwrap()
            .initial_stream_window_size(65_535)
            .connect()
            .await
            .unwrap();
        let bearer: tonic::metadata::MetadataValue<_> =
            format!("Bearer {}", app.token(Role::FieldWorker, &["city"])).parse().unwrap();
        let mut worker = SubmissionServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        });
        let mut results = worker.upload_submissions(requests).await.unwrap().into_inner();

        // Nothing is read: the server answers what fits the client's window (~700 results),
        // keeps its 64 items in flight, stops reading, and once the stream's 256 KiB window
        // (~1,000 items) is full the producer blocks.
        let stalled_at = wait_until_stalled(&taken).await;
        assert!(stalled_at < 5_000, "the server kept reading: {stalled_at} items taken");
        assert!(stalled_at > 64, "the server read no further than its first items: {stalled_at}");
        assert!(app.is_running(), "the server is still up");
        let other = app.field_worker(&["city"]).submit_visit(visit("c1", "jinshi-v2", answers())).await;
        assert!(other.is_ok(), "other calls are served meanwhile: {other:?}");

        // The phone gives up queueing; everything the stream took is answered once it reads.
        producer.abort();
        let _ = producer.await;
        let mut answered = 0;
        while let Some(result) = results.message().await.unwrap() {
            ack(&result);
            answered += 1;
        }
        assert_eq!(answered, taken.load(Ordering::SeqCst));
        assert_eq!(app.stored_count("c1").await, answered + 1);
    }
}

per_backend! {
    async fn open_uploads_end_cleanly_when_the_server_stops(app: TestApp) {
        app.seed().await;
        let mut app = app;
        let (queue, requests) = tokio::sync::mpsc::channel(8);
        let mut worker = app.field_worker(&["city"]);
        let mut results = worker.upload_submissions(ReceiverStream::new(requests)).await.unwrap().into_inner();
        let sent = visit("c1", "jinshi-v1", answers());
        queue.send(of_visit(sent.clone())).await.unwrap();
        let first = results.message().await.unwrap().expect("a result");
        assert_eq!(ack(&first).submission_id, sent.submission_id);

        // The phone keeps its stream open; stopping the server ends it at once, cleanly, rather
        // than after the shutdown grace period.
        let started = Instant::now();
        app.stop().await;
        assert!(started.elapsed() < Duration::from_secs(4), "shutdown waited for the open upload");
        assert!(results.message().await.unwrap().is_none(), "the stream ends with OK");
        drop(queue);
    }
}
