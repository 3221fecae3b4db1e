//! The Prometheus endpoint: calls counted by method and status code (streams when they end),
//! and the writer, queue, pool, live-stream, token-cache and connection metrics present.
//!
//! SQLite only: the metrics are the server's, whatever its store.

use std::time::Duration;

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::upload_submissions_request::Submission;
use tonic::Code;

use crate::connections::{metrics_text, sample};
use crate::helpers::*;

const GET_UNIT: &str = "service=\"canvass.v1.CatalogService\",method=\"GetUnit\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_metrics_count_the_calls_made() {
    let app = TestApp::spawn_sqlite_with(|s| {
        s.exposure.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let address = app.metrics_address.expect("metrics are served");
    app.seed().await;
    let mut analyst = app.catalog_as(Some(&app.token(Role::Analyst, &[])));
    for id in ["city", "jinshi", "city"] {
        analyst
            .get_unit(pb::GetUnitRequest { id: id.into() })
            .await
            .unwrap_or_else(|s| panic!("{id}: {s:?}"));
    }
    for id in ["atlantis", "el-dorado"] {
        let status = analyst
            .get_unit(pb::GetUnitRequest { id: id.into() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    // A stream's status comes in its trailers.
    let item = pb::UploadSubmissionsRequest {
        submission: Some(Submission::Visit(visit(
            "c1",
            "jinshi-v1",
            vec![answer("security", "a")],
        ))),
    };
    let mut results = app
        .field_worker(&["city"])
        .upload_submissions(futures::stream::iter([item]))
        .await
        .unwrap()
        .into_inner();
    while results.message().await.unwrap().is_some() {}
    // A live stream open while the metrics are read.
    let mut watch = app
        .analyst()
        .watch_unit_score(pb::WatchUnitScoreRequest {
            campaign_id: "c1".into(),
            unit_id: "city".into(),
        })
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap().expect("the current figures");

    // The upload's status is recorded once its trailers are sent, which may follow the last
    // message the client read by a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics_text(address).await;
        let upload = "canvass_grpc_calls_total{service=\"canvass.v1.SubmissionService\",\
                      method=\"UploadSubmissions\",code=\"OK\"}";
        if sample(&text, upload) == Some(1.0) || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let calls = |labels: &str| sample(&text, &format!("canvass_grpc_calls_total{{{labels}}}"));
    assert_eq!(
        calls(&format!("{GET_UNIT},code=\"OK\"")),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        calls(&format!("{GET_UNIT},code=\"NOT_FOUND\"")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        calls("service=\"canvass.v1.SubmissionService\",method=\"UploadSubmissions\",code=\"OK\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("canvass_grpc_call_duration_seconds_count{{{GET_UNIT}}}")
        ),
        Some(5.0),
        "{text}"
    );
    // The open watch has not ended, so it is not counted yet; it is a live stream.
    assert_eq!(
        calls("service=\"canvass.v1.AggregateService\",method=\"WatchUnitScore\",code=\"OK\""),
        None,
        "{text}"
    );
    assert_eq!(sample(&text, "canvass_live_streams"), Some(1.0), "{text}");
    // One upload item, one commit.
    assert_eq!(
        sample(&text, "canvass_writer_batch_size_count"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "canvass_writer_batch_size_sum"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "canvass_writer_commit_duration_seconds_count"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "canvass_writer_queue_depth"),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "canvass_writer_queue_capacity").unwrap() > 0.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "canvass_db_pool_max_connections{pool=\"sqlite_readers\"}"
        )
        .is_some(),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "canvass_db_pool_idle_connections{pool=\"sqlite_readers\"}"
        )
        .is_some(),
        "{text}"
    );
    // The analyst's one token was verified once and then found in the cache four times.
    assert!(
        sample(&text, "canvass_token_cache_hits_total").unwrap() >= 4.0,
        "{text}"
    );
    assert!(
        sample(&text, "canvass_token_cache_misses_total").unwrap() >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "canvass_connections_open").unwrap() >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("# TYPE canvass_grpc_call_duration_seconds histogram"),
        "{text}"
    );

    // Once the watch ends it is counted (as CANCELLED: the client went away).
    drop(watch);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics_text(address).await;
        let watched = "canvass_grpc_calls_total{service=\"canvass.v1.AggregateService\",\
                       method=\"WatchUnitScore\",code=\"CANCELLED\"}";
        if sample(&text, watched) == Some(1.0) && sample(&text, "canvass_live_streams") == Some(0.0)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_share_one_label() {
    let app = TestApp::spawn_sqlite_with(|s| {
        s.exposure.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    for path in ["/canvass.v1.CatalogService/Nope", "/x.Y/Z"] {
        grpc.ready().await.unwrap();
        let status = grpc
            .unary::<(), (), _>(
                tonic::Request::new(()),
                http::uri::PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_ne!(status.code(), Code::Ok);
    }
    let text = metrics_text(app.metrics_address.unwrap()).await;
    assert!(!text.contains("method=\"Nope\""), "{text}");
    let unknown: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("canvass_grpc_calls_total{service=\"unknown\",method=\"unknown\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(unknown, 2.0, "{text}");
    // Anything but /metrics is not found.
    let mut stream = tokio::net::TcpStream::connect(app.metrics_address.unwrap())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: canvass\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
}
