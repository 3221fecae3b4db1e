//! Tokens from a city's identity provider: keys from a JWK set (a file, or a URL), chosen by
//! `kid`, each pinned to its algorithm; key rotation; the provider's claim names and role
//! values.
//!
//! SQLite only: verification happens in the auth layer before any store is reached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canvass::configuration::ServeArgs;
use canvass::proto::v1 as pb;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::helpers::*;

/// A key of the identity provider, with its public half as a JWK.
struct IdpKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl IdpKey {
    fn ed25519(kid: &str) -> Self {
        let signing = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let der = signing.to_pkcs8_der().unwrap();
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let jwk =
            serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}))
                .unwrap();
        Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwk,
        }
    }

    fn es256(kid: &str) -> Self {
        use p256::pkcs8::EncodePrivateKey as _;
        let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
        let der = secret.to_pkcs8_der().unwrap();
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_der(der.as_bytes()),
        )
    }

    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.into());
        Self {
            kid: kid.into(),
            alg,
            encoding,
            jwk,
        }
    }

    /// A token signed with this key, naming `kid` and `alg` in its header.
    fn sign_as(&self, kid: &str, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, self.alg, claims)
    }
}

fn key_set(keys: &[&IdpKey]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

/// The provider's claims for `subject`, with `extra` (role and units) added.
fn claims(subject: &str, extra: Value) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "sub": subject,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 3600,
        "nbf": now - 10,
        "iat": now - 10,
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

async fn get_city(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    app.catalog_as(Some(token))
        .get_unit(pb::GetUnitRequest { id: "city".into() })
        .await
        .map(drop)
}

async fn assert_refused(app: &TestApp, token: &str, message_part: &str) {
    let status = get_city(app, token).await.expect_err("must be refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains(message_part),
        "{status:?} should say {message_part:?}"
    );
}

/// A server trusting the key set in a file of its own; its admin token comes from `admin`.
async fn serve_with_jwks_file(
    jwks: &std::path::Path,
    admin: &IdpKey,
    configure: impl FnOnce(&mut ServeArgs),
) -> TestApp {
    let path = jwks.to_owned();
    let mut app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.identity.jwks_file = Some(path);
        // Every unknown kid reads the file again, so a rotation is seen at once.
        s.identity.jwks_unknown_kid_min_seconds = 0;
        configure(s);
    })
    .await
    .expect("SQLite");
    app.admin_token = Some(admin.sign(&claims("city-admin", json!({"role": "admin"}))));
    app.seed_units().await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_a_jwks_file_are_chosen_by_kid_and_rotated_out() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let (a, b) = (IdpKey::ed25519("2026-a"), IdpKey::es256("2026-b"));
    std::fs::write(&jwks, key_set(&[&a, &b])).unwrap();
    let app = serve_with_jwks_file(&jwks, &a, |_| {}).await;

    let analyst = claims("analyst-1", json!({"role": "analyst"}));
    let (token_a, token_b) = (a.sign(&analyst), b.sign(&analyst));
    get_city(&app, &token_a).await.expect("Ed25519 key a");
    get_city(&app, &token_b).await.expect("P-256 key b");

    // A key the set lacks, a token naming none, and Canvass's own key are all refused.
    assert_refused(
        &app,
        &a.sign_as("2026-z", Algorithm::EdDSA, &analyst),
        "not known",
    )
    .await;
    let no_kid =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &analyst, &a.encoding).unwrap();
    assert_refused(&app, &no_kid, "names no key").await;
    assert_refused(
        &app,
        &app.token(canvass::auth::Role::Admin, &[]),
        "names no key",
    )
    .await;
    // Key b verifies ES256 only: a header naming it with EdDSA (signed by a's Ed25519 key) is
    // refused, whatever the header says.
    assert_refused(
        &app,
        &a.sign_as("2026-b", Algorithm::EdDSA, &analyst),
        "algorithm",
    )
    .await;

    // Rotation: a is removed, c added. A token of c prompts a read of the file; a's tokens,
    // cached as verified, are refused from then on.
    let c = IdpKey::es256("2026-c");
    std::fs::write(&jwks, key_set(&[&b, &c])).unwrap();
    get_city(&app, &c.sign(&analyst)).await.expect("new key c");
    assert_refused(&app, &token_a, "not known").await;
    get_city(&app, &token_b).await.expect("key b stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_carry_their_role_and_units_in_the_configured_claims() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let key = IdpKey::ed25519("k1");
    std::fs::write(&jwks, key_set(&[&key])).unwrap();
    let units_claim = "https://city.example/units";
    let mut app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.identity.jwks_file = Some(jwks.clone());
        s.identity.jwt_role_claim = "groups".into();
        s.identity.jwt_units_claim = units_claim.into();
        s.identity.jwt_role_map = vec![
            "survey-admins=admin".parse().unwrap(),
            "survey-analysts=analyst".parse().unwrap(),
            "survey-field=field_worker".parse().unwrap(),
        ];
    })
    .await
    .expect("SQLite");
    app.admin_token = Some(key.sign(&claims(
        "city-admin",
        json!({"groups": ["offline_access", "survey-admins"]}),
    )));
    app.seed().await;

    let analyst = key.sign(&claims(
        "a1",
        json!({"groups": ["survey-analysts", "staff"]}),
    ));
    get_city(&app, &analyst).await.expect("mapped analyst");
    // Canvass's own names do not count once a mapping is configured.
    let unmapped = key.sign(&claims(
        "a2",
        json!({"groups": ["analyst"], "role": "admin"}),
    ));
    assert_refused(&app, &unmapped, "grants no Canvass role").await;
    let ambiguous = key.sign(&claims(
        "a3",
        json!({"groups": ["survey-analysts", "survey-admins"]}),
    ));
    assert_refused(&app, &ambiguous, "more than one").await;
    let malformed = key.sign(&claims(
        "w0",
        json!({"groups": "survey-field", units_claim: 7}),
    ));
    assert_refused(&app, &malformed, "malformed").await;

    // The units claim decides where a field worker may submit.
    let worker = key.sign(&claims(
        "w1",
        json!({"groups": "survey-field", units_claim: ["jinshi"]}),
    ));
    let mut submissions = app.submissions_as(Some(&worker));
    submissions
        .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
        .await
        .expect("inside the token's units");
    let status = submissions
        .submit_visit(visit("c1", "dongshan-c1", vec![answer("security", "a")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let stored = stored_submissions(&app, "c1").await;
    assert_eq!(stored.len(), 1);
}

/// A JWKS endpoint: answers every request with the current document, and counts them.
struct JwksEndpoint {
    url: String,
    document: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl JwksEndpoint {
    async fn start(document: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let document = Arc::new(Mutex::new(document));
        let requests = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (document.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (doc, count) = (doc.clone(), count.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            url,
            document,
            requests,
            _task: task,
        }
    }

    fn serve(&self, document: String) {
        *self.document.lock().unwrap() = document;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_is_fetched_on_unknown_kids_at_a_bounded_rate_and_on_schedule() {
    let a = IdpKey::ed25519("a");
    let endpoint = JwksEndpoint::start(key_set(&[&a])).await;
    let url = endpoint.url.clone();
    let mut app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.identity.jwks_url = Some(url);
        s.identity.jwks_refresh_seconds = 1;
        // Longer than the test: only the first unknown kid may prompt a fetch.
        s.identity.jwks_unknown_kid_min_seconds = 3600;
    })
    .await
    .expect("SQLite");
    app.admin_token = Some(a.sign(&claims("city-admin", json!({"role": "admin"}))));
    app.seed_units().await;
    let analyst = claims("analyst-1", json!({"role": "analyst"}));
    let token_a = a.sign(&analyst);
    get_city(&app, &token_a).await.expect("key a");

    // The provider rotates in key c: the first token naming it prompts a fetch.
    let c = IdpKey::es256("c");
    endpoint.serve(key_set(&[&a, &c]));
    get_city(&app, &c.sign(&analyst))
        .await
        .expect("key c after a fetch");
    let fetched = endpoint.requests();

    // Made-up kids are refused without making us fetch the set for each of them.
    for i in 0..20 {
        assert_refused(
            &app,
            &a.sign_as(&format!("made-up-{i}"), Algorithm::EdDSA, &analyst),
            "not known",
        )
        .await;
    }
    // (Only the schedule, once a second, fetches meanwhile.)
    assert!(
        endpoint.requests() <= fetched + 3,
        "{} fetches",
        endpoint.requests()
    );

    // Key a is removed: the scheduled fetch retires it, cached tokens included.
    endpoint.serve(key_set(&[&c]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match get_city(&app, &token_a).await {
            Ok(()) => assert!(
                tokio::time::Instant::now() < deadline,
                "key a still accepted"
            ),
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    get_city(&app, &c.sign(&analyst))
        .await
        .expect("key c stays");
    app.stop().await;
}
