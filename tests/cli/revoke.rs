//! `canvass revoke`: an operator revokes a lost phone's tokens from the command line, and the
//! server refuses them from the next call.

use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;

use crate::binary::{canvass, serve, stop};

fn mint(data_dir: &std::path::Path, subject: &str) -> String {
    let output = canvass(data_dir)
        .args(["token", "--role", "analyst", "--subject", subject])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The status of a GetUnit call with `token` (NOT_FOUND once past authentication).
async fn call(address: &str, token: &str) -> tonic::Code {
    let mut client = CatalogServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::GetUnitRequest { id: "city".into() });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    client.get_unit(request).await.unwrap_err().code()
}

#[tokio::test]
async fn revoke_subcommand_refuses_a_subjects_tokens() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(canvass(data_dir.path()));
    let lost = mint(data_dir.path(), "phone-7");
    let other = mint(data_dir.path(), "phone-8");
    assert_eq!(call(&address, &lost).await, tonic::Code::NotFound);

    let server_url = format!("http://{address}");
    let output = canvass(data_dir.path())
        .args([
            "revoke",
            "--server",
            &server_url,
            "--subject",
            "phone-7",
            "--reason",
            "lost",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("revoked the tokens of phone-7"), "{stdout}");
    assert_eq!(call(&address, &lost).await, tonic::Code::Unauthenticated);
    assert_eq!(call(&address, &other).await, tonic::Code::NotFound);

    // A target is required; --before only with --subject.
    for args in [
        vec!["revoke", "--server", &server_url, "--reason", "x"],
        vec![
            "revoke",
            "--server",
            &server_url,
            "--jti",
            "t",
            "--before",
            "2026-01-01T00:00:00Z",
            "--reason",
            "x",
        ],
    ] {
        let output = canvass(data_dir.path()).args(&args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
    }

    tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
}
