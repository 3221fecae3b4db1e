//! Connection hygiene: connections that never finish their handshake or a header block, or
//! sit without calls, are closed by the server; beyond `--max-connections` new connections
//! are closed at once while the open ones are still served.
//!
//! SQLite only: nothing here touches the store beyond the calls that prove a connection
//! works. Deadlines are configured short and asserted with generous upper bounds, since the
//! machine may be loaded.

use std::time::{Duration, Instant};

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame header: length, type, flags, stream id.
fn frame_header(length: usize, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let mut bytes = vec![
        (length >> 16) as u8,
        (length >> 8) as u8,
        length as u8,
        kind,
        flags,
    ];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes
}

/// An empty SETTINGS frame.
fn settings() -> Vec<u8> {
    frame_header(0, 0x4, 0, 0)
}

/// Reads (and discards what the server sends) until the server closes the connection;
/// returns how long that took from `since`. Panics after `limit`.
async fn closed_by_server(stream: &mut TcpStream, since: Instant, limit: Duration) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((since + limit).into(), stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

async fn scrape(app: &TestApp) -> String {
    metrics_text(app.metrics_address.expect("metrics are served")).await
}

/// The value of the sample `line_start` (a metric name with its labels) in `text`.
pub fn sample(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a number"))
}

/// GET /metrics over plain HTTP/1.1.
pub async fn metrics_text(address: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).await.expect("metrics endpoint");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: canvass\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_sends_its_preface_is_closed_after_the_handshake_timeout() {
    let app = TestApp::spawn_sqlite_with(|s| {
        s.exposure.handshake_timeout_seconds = 1;
        s.exposure.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let opened = Instant::now();
    let mut silent = TcpStream::connect(app.address).await.unwrap();
    // Half a preface, then silence.
    let mut half = TcpStream::connect(app.address).await.unwrap();
    half.write_all(&PREFACE[..10]).await.unwrap();

    for stream in [&mut silent, &mut half] {
        let took = closed_by_server(stream, opened, Duration::from_secs(15)).await;
        assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    }
    // The harness's own connection made calls in time and is still good.
    app.catalog_as(Some(&app.token(Role::Admin, &[])))
        .list_units(pb::ListUnitsRequest::default())
        .await
        .expect("a connection that spoke in time is served");
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            "canvass_connections_expired_total{reason=\"handshake_timeout\"}"
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stalls_mid_headers_is_closed_after_the_handshake_timeout() {
    let app = TestApp::spawn_sqlite_with(|s| s.exposure.handshake_timeout_seconds = 1).await;
    let mut stalled = TcpStream::connect(app.address).await.unwrap();
    stalled.write_all(PREFACE).await.unwrap();
    stalled.write_all(&settings()).await.unwrap();
    // A HEADERS frame (END_HEADERS set) announcing 64 bytes of header block, of which only 5
    // arrive.
    let since = Instant::now();
    stalled
        .write_all(
            &[
                frame_header(64, 0x1, 0x4, 1),
                vec![0x82, 0x86, 0x84, 0x41, 0x0f],
            ]
            .concat(),
        )
        .await
        .unwrap();
    let took = closed_by_server(&mut stalled, since, Duration::from_secs(15)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");

    // A header block left waiting for its CONTINUATION is the same stall.
    let mut continued = TcpStream::connect(app.address).await.unwrap();
    continued.write_all(PREFACE).await.unwrap();
    continued.write_all(&settings()).await.unwrap();
    let since = Instant::now();
    continued
        .write_all(&[frame_header(2, 0x1, 0x0, 1), vec![0x82, 0x86]].concat())
        .await
        .unwrap();
    let took = closed_by_server(&mut continued, since, Duration::from_secs(15)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_calls_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_sqlite_with(|s| {
        s.exposure.handshake_timeout_seconds = 30;
        s.exposure.idle_timeout_seconds = 1;
        s.exposure.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    // A complete handshake, then no call.
    let mut idle = TcpStream::connect(app.address).await.unwrap();
    let opened = Instant::now();
    idle.write_all(PREFACE).await.unwrap();
    idle.write_all(&settings()).await.unwrap();
    let took = closed_by_server(&mut idle, opened, Duration::from_secs(20)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    // The harness's own connection, which has made no call either, may have gone too.
    let text = scrape(&app).await;
    assert!(
        sample(
            &text,
            "canvass_connections_expired_total{reason=\"idle_timeout\"}"
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "canvass_connections_expired_total{reason=\"handshake_timeout\"}"
        ),
        Some(0.0),
        "{text}"
    );

    // A call in progress is not idle, however long it lasts: a live stream stays open past
    // the idle timeout and keeps receiving.
    app.seed().await;
    let mut watch = app
        .analyst()
        .watch_unit_score(pb::WatchUnitScoreRequest {
            campaign_id: "c1".into(),
            unit_id: "city".into(),
        })
        .await
        .expect("watch starts")
        .into_inner();
    watch.message().await.unwrap().expect("the current figures");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.field_worker(&["city"])
        .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
        .await
        .expect("a new connection after the idle close is served");
    let update = tokio::time::timeout(Duration::from_secs(20), watch.message())
        .await
        .expect("an update within 20 s")
        .expect("the stream is still open");
    assert!(update.is_some());
}

/// A client on a connection of its own.
async fn own_connection(
    app: &TestApp,
) -> Result<CatalogServiceClient<Authed>, tonic::transport::Error> {
    let channel = Channel::from_shared(format!("http://{}", app.address))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await?;
    Ok(CatalogServiceClient::with_interceptor(
        channel,
        TestApp::bearer_for(&app.token(Role::Admin, &[])),
    ))
}

async fn list_units(client: &mut CatalogServiceClient<Authed>) -> Result<(), tonic::Status> {
    client
        .list_units(pb::ListUnitsRequest::default())
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_at_once_while_open_ones_are_served() {
    // The harness's own connection is the first of two.
    let app = TestApp::spawn_sqlite_with(|s| {
        s.exposure.max_connections = 2;
        s.exposure.handshake_timeout_seconds = 60;
        s.exposure.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let mut second = own_connection(&app).await.expect("the second connection");
    list_units(&mut second).await.expect("served");

    // The third is closed as soon as it is accepted, well before any timeout of the server.
    let opened = Instant::now();
    let mut third = TcpStream::connect(app.address).await.unwrap();
    let _ = third.write_all(PREFACE).await;
    let took = closed_by_server(&mut third, opened, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    // A gRPC client's call fails at once (the connection reset) instead of waiting for its
    // deadline.
    let started = Instant::now();
    match own_connection(&app).await {
        Err(_) => {}
        Ok(mut client) => {
            let status = list_units(&mut client).await.unwrap_err();
            assert!(
                // hyper reports the reset as a transport error or, when it sees the close
                // before the request went out, as a cancelled request.
                matches!(
                    status.code(),
                    Code::Unavailable | Code::Unknown | Code::Cancelled
                ),
                "{status:?}"
            );
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );

    // Both open connections are still served.
    list_units(&mut second).await.expect("still served");
    app.catalog_as(Some(&app.token(Role::Admin, &[])))
        .list_units(pb::ListUnitsRequest::default())
        .await
        .expect("still served");

    let text = scrape(&app).await;
    assert!(
        sample(&text, "canvass_connections_refused_total").unwrap() >= 2.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "canvass_connections_open"),
        Some(2.0),
        "{text}"
    );

    // Once one closes, a new one gets in.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut client) = own_connection(&app).await
            && list_units(&mut client).await.is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection admitted after one closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
