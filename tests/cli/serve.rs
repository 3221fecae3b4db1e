//! The binary as an operator runs it: serve with no set-up, mint a token with the `token`
//! subcommand, call the API, then stop cleanly on SIGTERM; its data files readable by its own
//! user only.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;

use crate::binary::{canvass, serve, stop};

#[tokio::test]
async fn serves_with_defaults_accepts_a_minted_token_and_stops_on_sigterm() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));

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

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// What `serve` keeps in its data directory, and the mode each must have.
const DATA_FILES: [(&str, u32); 6] = [
    ("canvass.db", 0o600),
    ("canvass.db-wal", 0o600),
    ("canvass.db-shm", 0o600),
    ("jwt-ed25519.pem", 0o600),
    ("phone-hash.key", 0o600),
    // Meant to be copied to servers that only verify tokens.
    ("jwt-ed25519.pub.pem", 0o644),
];

fn assert_private(data_dir: &Path) {
    assert_eq!(mode(data_dir), 0o700, "{}", data_dir.display());
    for (name, expected) in DATA_FILES {
        let path = data_dir.join(name);
        assert_eq!(mode(&path), expected, "{name}: {:o}", mode(&path));
    }
}

#[test]
fn data_files_are_readable_by_their_owner_only_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let (server, _) = serve(with_umask_022(canvass(&data_dir)));
    // The database's -wal and -shm files exist while the server runs.
    assert_private(&data_dir);
    stop(server);

    // A data directory that an earlier release left open is tightened on start.
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (server, _) = serve(with_umask_022(canvass(&data_dir)));
    assert_private(&data_dir);
    stop(server);
}

/// `command` run under the common umask 022, which leaves new files readable by everyone
/// unless they are created with a mode of their own.
fn with_umask_022(mut command: Command) -> Command {
    // SAFETY: umask is async-signal-safe and touches nothing the forked child shares.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    command
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
