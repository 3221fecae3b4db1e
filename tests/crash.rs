//! Crash safety of streamed uploads: the binary is killed with SIGKILL in the middle of an
//! upload and restarted on the same data directory. Every acknowledged item must be there, and
//! resending the rest must store each item exactly once. And a SIGTERM with connections that
//! never end by themselves still stops the server within its grace period, keeping every
//! acknowledged item.

use std::collections::HashSet;
use std::io::Write;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canvass::proto::v1 as pb;
use canvass::proto::v1::aggregate_service_client::AggregateServiceClient;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use canvass::proto::v1::submission_service_client::SubmissionServiceClient;
use canvass::proto::v1::upload_submissions_request::Submission;
use canvass::proto::v1::upload_submissions_response::Result as ItemResult;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};

const ITEMS: usize = 3_000;
const ACKS_BEFORE_KILL: usize = 300;

fn canvass(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env_clear()
        .env("CANVASS_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

/// Starts `canvass serve` on a free port and returns it with the address it logged.
fn serve(data_dir: &Path) -> (Child, String) {
    serve_with(data_dir, &[])
}

/// As [`serve`], with more flags.
fn serve_with(data_dir: &Path, flags: &[&str]) -> (Child, String) {
    let mut server = canvass(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("address=").nth(1) {
                let address = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(address.to_string());
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server reports its address");
    (server, format!("http://{address}"))
}

fn admin_token(data_dir: &Path) -> MetadataValue<Ascii> {
    let output = canvass(data_dir)
        .args(["token", "--role", "admin", "--subject", "ops"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    format!("Bearer {}", token.trim()).parse().unwrap()
}

fn authed<T>(message: T, token: &MetadataValue<Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    request
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

async fn seed(address: &str, token: &MetadataValue<Ascii>) {
    let mut catalog = CatalogServiceClient::connect(address.to_string())
        .await
        .unwrap();
    for (id, kind, parent) in [
        ("city", pb::UnitKind::City, ""),
        ("town", pb::UnitKind::Township, "city"),
        ("village", pb::UnitKind::Village, "town"),
    ] {
        let unit = pb::Unit {
            id: id.into(),
            name: id.into(),
            kind: kind.into(),
            parent_id: parent.into(),
            ..Default::default()
        };
        let request = pb::CreateUnitRequest { unit: Some(unit) };
        catalog.create_unit(authed(request, token)).await.unwrap();
    }
    let option = |code: &str, points| pb::AnswerOption {
        code: code.into(),
        label: code.into(),
        kind: pb::OptionKind::Scored.into(),
        points,
    };
    let questionnaire = pb::Questionnaire {
        id: "q".into(),
        name: "q".into(),
        indicators: vec![pb::Indicator {
            code: "security".into(),
            text: "?".into(),
            weight: 1.0,
            options: vec![option("a", 100), option("b", 0)],
        }],
        ..Default::default()
    };
    let request = pb::CreateQuestionnaireRequest {
        questionnaire: Some(questionnaire),
    };
    catalog
        .create_questionnaire(authed(request, token))
        .await
        .unwrap();
    let campaign = pb::Campaign {
        id: "c1".into(),
        name: "c1".into(),
        questionnaire_id: "q".into(),
        scope_unit_id: "city".into(),
        open_time: Some(ts(now() - 86_400)),
        close_time: Some(ts(now() + 86_400)),
        ..Default::default()
    };
    let request = pb::CreateCampaignRequest {
        campaign: Some(campaign),
    };
    catalog
        .create_campaign(authed(request, token))
        .await
        .unwrap();
}

fn item(i: usize) -> pb::UploadSubmissionsRequest {
    let end = now() - 60;
    pb::UploadSubmissionsRequest {
        submission: Some(Submission::Visit(pb::SubmitVisitRequest {
            submission_id: uuid::Uuid::now_v7().to_string(),
            campaign_id: "c1".into(),
            unit_id: "village".into(),
            household_ref: format!("household {i}"),
            start_time: Some(ts(end - 600)),
            end_time: Some(ts(end)),
            answers: vec![pb::Answer {
                indicator_code: "security".into(),
                option_code: if i.is_multiple_of(3) { "b" } else { "a" }.into(),
            }],
            ..Default::default()
        })),
    }
}

fn id_of(item: &pb::UploadSubmissionsRequest) -> &str {
    match &item.submission {
        Some(Submission::Visit(v)) => &v.submission_id,
        _ => unreachable!("every item is a visit"),
    }
}

/// The ids of campaign c1's stored submissions in commit order, read with the test's own SQL.
async fn stored_ids(data_dir: &Path) -> Vec<String> {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data_dir.join("canvass.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT submission_id FROM submissions WHERE campaign_id = 'c1' ORDER BY seq",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    ids.iter().map(uuid::Uuid::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_uploads_survive_sigkill_and_resending_stores_each_once() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut server, address) = serve(data_dir.path());
    let token = admin_token(data_dir.path());
    seed(&address, &token).await;
    let items: Vec<_> = (0..ITEMS).map(item).collect();

    // Upload everything; once some items are acknowledged, kill the server mid-stream.
    let (queue, requests) = tokio::sync::mpsc::channel(ITEMS);
    for item in &items {
        queue.send(item.clone()).await.unwrap();
    }
    let mut client = SubmissionServiceClient::connect(address).await.unwrap();
    let mut results = client
        .upload_submissions(authed(ReceiverStream::new(requests), &token))
        .await
        .unwrap()
        .into_inner();
    let mut acknowledged = HashSet::new();
    while acknowledged.len() < ACKS_BEFORE_KILL {
        let result = results.message().await.unwrap().expect("more results");
        assert!(matches!(
            result.result,
            Some(ItemResult::Acknowledgement(_))
        ));
        acknowledged.insert(result.submission_id);
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    // Acknowledgements already on the wire still count; then the stream breaks.
    while let Ok(Some(result)) = results.message().await {
        if matches!(result.result, Some(ItemResult::Acknowledgement(_))) {
            acknowledged.insert(result.submission_id);
        }
    }
    drop(queue);
    assert!(
        acknowledged.len() < ITEMS,
        "the kill came before the upload finished"
    );

    let stored: HashSet<String> = stored_ids(data_dir.path()).await.into_iter().collect();
    eprintln!(
        "killed after {} acknowledgements; {} items stored",
        acknowledged.len(),
        stored.len()
    );
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // Restart on the same data and resend everything that was not acknowledged.
    let (mut server, address) = serve(data_dir.path());
    let rest: Vec<_> = items
        .iter()
        .filter(|i| !acknowledged.contains(id_of(i)))
        .cloned()
        .collect();
    let resent = rest.len();
    let mut client = SubmissionServiceClient::connect(address.clone())
        .await
        .unwrap();
    let mut results = client
        .upload_submissions(authed(futures::stream::iter(rest), &token))
        .await
        .unwrap()
        .into_inner();
    let mut answered = 0;
    while let Some(result) = results.message().await.unwrap() {
        assert!(
            matches!(result.result, Some(ItemResult::Acknowledgement(_))),
            "{result:?}"
        );
        answered += 1;
    }
    assert_eq!(answered, resent);

    let stored = stored_ids(data_dir.path()).await;
    assert_eq!(stored.len(), ITEMS, "every item stored exactly once");
    let expected: HashSet<&str> = items.iter().map(id_of).collect();
    assert_eq!(
        stored.iter().map(String::as_str).collect::<HashSet<_>>(),
        expected
    );
    let mut aggregates = AggregateServiceClient::connect(address).await.unwrap();
    let request = pb::GetUnitScoreRequest {
        campaign_id: "c1".into(),
        unit_id: "city".into(),
    };
    let city = aggregates
        .get_unit_score(authed(request, &token))
        .await
        .unwrap();
    assert_eq!(city.into_inner().submission_count, ITEMS as i64);

    server.kill().unwrap();
    server.wait().unwrap();
}

const GRACE_SECONDS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_idle_connections_stops_within_the_grace_period_keeping_acknowledged_items() {
    let data_dir = tempfile::tempdir().unwrap();
    let grace = GRACE_SECONDS.to_string();
    let (mut server, address) = serve_with(data_dir.path(), &["--shutdown-grace-seconds", &grace]);
    let token = admin_token(data_dir.path());
    seed(&address, &token).await;

    // An upload whose items are all acknowledged, left open: the client has not finished.
    let (queue, requests) = tokio::sync::mpsc::channel(64);
    let items: Vec<_> = (0..50).map(item).collect();
    for item in &items {
        queue.send(item.clone()).await.unwrap();
    }
    let mut client = SubmissionServiceClient::connect(address.clone())
        .await
        .unwrap();
    let mut results = client
        .upload_submissions(authed(ReceiverStream::new(requests), &token))
        .await
        .unwrap()
        .into_inner();
    let mut acknowledged = HashSet::new();
    while acknowledged.len() < items.len() {
        let result = results.message().await.unwrap().expect("more results");
        assert!(matches!(
            result.result,
            Some(ItemResult::Acknowledgement(_))
        ));
        acknowledged.insert(result.submission_id);
    }

    // Connections that never end by themselves: a socket that never sends the HTTP/2 preface,
    // and one that sends it and then never reads (so never answers the GOAWAY's ping).
    let host = address.trim_start_matches("http://");
    let silent = std::net::TcpStream::connect(host).unwrap();
    let mut preface_only = std::net::TcpStream::connect(host).unwrap();
    preface_only
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    eprintln!("stopped {took:?} after SIGTERM with a grace period of {GRACE_SECONDS} s");
    assert!(exit.success(), "clean exit on SIGTERM, got {exit:?}");
    assert!(
        took < Duration::from_secs(GRACE_SECONDS) + Duration::from_secs(1),
        "stopping took {took:?}"
    );
    drop((silent, preface_only, queue));

    let stored: HashSet<String> = stored_ids(data_dir.path()).await.into_iter().collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}
