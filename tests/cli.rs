//! The binary as an operator runs it: serve with no set-up, mint a token with the `token`
//! subcommand, call the API, then stop cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;

fn canvass(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_canvass"));
    command
        .env_clear()
        .env("CANVASS_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

#[tokio::test]
async fn serves_with_defaults_accepts_a_minted_token_and_stops_on_sigterm() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = canvass(data_dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // The server logs its bound address once it is serving.
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("address=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server reports its address");

    let output = canvass(data_dir.path())
        .args(["token", "--role", "admin", "--subject", "ops"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();

    let mut client = CatalogServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::CreateUnitRequest {
        unit: Some(pb::Unit {
            id: "city".into(),
            name: "示范市".into(),
            kind: pb::UnitKind::City.into(),
            ..Default::default()
        }),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let created = client.create_unit(request).await.unwrap().into_inner();
    assert_eq!(created.name, "示范市");
    assert!(data_dir.path().join("canvass.db").exists());
    assert!(data_dir.path().join("jwt-ed25519.pem").exists());

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "clean exit on SIGTERM, got {exit:?}");
}

#[test]
fn token_subcommand_rejects_unknown_roles() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = canvass(data_dir.path())
        .args(["token", "--role", "mayor"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown role"));
}

#[tokio::test]
async fn migrate_subcommand_prepares_a_database_for_operators() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = canvass(data_dir.path()).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = format!("sqlite://{}", data_dir.path().join("canvass.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    let expected = std::fs::read_dir("migrations/sqlite").unwrap().count() as i64;
    assert_eq!(applied, expected);
    for table in ["submissions", "cell_stats", "call_cases", "grievances"] {
        let found: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(table)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(found, 1, "table {table}");
    }
}
