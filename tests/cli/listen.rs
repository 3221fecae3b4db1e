//! `canvass --listen …` with no subcommand takes `serve`'s flags, as `canvass` alone serves.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::binary::{canvass, serve_with, stop};

#[tokio::test]
async fn serve_flags_without_the_subcommand_serve() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve_with(canvass(data_dir.path()), &["--listen", "127.0.0.1:0"]);
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status, 1, "SERVING");
    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}

#[test]
fn serve_flags_before_another_subcommand_are_refused_with_usage() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = canvass(data_dir.path())
        .args(["--listen", "127.0.0.1:0", "token", "--role", "admin"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage"), "{stderr}");
}
