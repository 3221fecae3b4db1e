//! Native TLS: a call over TLS with a client that trusts the test CA and negotiates "h2", and
//! a certificate replaced on disk that the next new connection sees (a broken replacement
//! leaves the current one in place).
//!
//! SQLite only: the store plays no part.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use canvass::proto::v1::catalog_service_client::CatalogServiceClient;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::helpers::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for localhost and 127.0.0.1 (and `extra_name`), written to
/// `dir/server.pem` and `dir/server.key`; returns its DER.
fn write_server_cert(ca: &Ca, dir: &Path, extra_name: &str) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), extra_name.to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    // The key first: a reload that reads between the two writes sees a mismatch and waits.
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    cert.der().clone()
}

/// What a TLS client saw of the server.
#[derive(Default)]
struct Seen {
    certificate: Option<CertificateDer<'static>>,
    alpn: Option<Vec<u8>>,
}

/// A channel over TLS that trusts only `ca` and records the certificate it was shown.
async fn tls_channel(
    address: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
) -> (Channel, Arc<Mutex<Seen>>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let recorded = seen.clone();
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, recorded) = (connector.clone(), recorded.clone());
            async move {
                let tcp = TcpStream::connect(address).await?;
                let name = ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await?;
                let (_, session) = tls.get_ref();
                let mut seen = recorded.lock().unwrap();
                seen.certificate = session.peer_certificates().map(|c| c[0].clone());
                seen.alpn = session.alpn_protocol().map(<[u8]>::to_vec);
                drop(seen);
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .expect("TLS connection");
    (channel, seen)
}

/// The certificate a new TLS connection is shown.
async fn certificate_of_a_new_connection(
    app: &TestApp,
    ca: &CertificateDer<'static>,
) -> CertificateDer<'static> {
    let (_channel, seen) = tls_channel(app.address, ca).await;
    let certificate = seen.lock().unwrap().certificate.clone();
    certificate.expect("the server showed a certificate")
}

async fn tls_app(dir: &Path) -> TestApp {
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    TestApp::spawn_sqlite_with(|s| {
        s.exposure.tls_cert = Some(cert);
        s.exposure.tls_key = Some(key);
        s.exposure.tls_reload_seconds = 1;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_work_over_tls_with_http2_negotiated() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let served = write_server_cert(&ca, dir.path(), "canvass.test");
    let app = tls_app(dir.path()).await;

    let (channel, seen) = tls_channel(app.address, &ca.der).await;
    let mut catalog = CatalogServiceClient::with_interceptor(
        channel,
        TestApp::bearer_for(&app.token(Role::Admin, &[])),
    );
    let created = catalog
        .create_unit(pb::CreateUnitRequest {
            unit: Some(pb::Unit {
                id: "city".into(),
                name: "示范市".into(),
                kind: pb::UnitKind::City.into(),
                ..Default::default()
            }),
        })
        .await
        .expect("a call over TLS")
        .into_inner();
    assert_eq!(created.name, "示范市");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
        assert_eq!(seen.certificate.as_ref(), Some(&served));
    }

    // Plaintext HTTP/2 on the TLS port gets nowhere.
    let plain = Channel::from_shared(format!("http://{}", app.address))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await;
    if let Ok(plain) = plain {
        let status = CatalogServiceClient::new(plain)
            .list_units(pb::ListUnitsRequest::default())
            .await
            .unwrap_err();
        assert_ne!(status.code(), tonic::Code::Ok);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_is_served_to_new_connections_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let first = write_server_cert(&ca, dir.path(), "first.canvass.test");
    let app = tls_app(dir.path()).await;
    assert_eq!(certificate_of_a_new_connection(&app, &ca.der).await, first);

    // A broken certificate file: looked at (every second) and refused; the first stays.
    std::fs::write(
        dir.path().join("server.pem"),
        "-----BEGIN CERTIFICATE-----\nbroken\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(certificate_of_a_new_connection(&app, &ca.der).await, first);

    // A valid new pair is served to the next new connections.
    let second = write_server_cert(&ca, dir.path(), "second.canvass.test");
    assert_ne!(first, second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if certificate_of_a_new_connection(&app, &ca.der).await == second {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
