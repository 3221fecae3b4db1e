//! Revoking tokens: by `jti` or by subject, admin-only, recorded with who, when and why, and
//! honoured by every server process on the database, cached tokens included.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canvass::auth::{Claims, Role};
use canvass::proto::v1 as pb;
use canvass::proto::v1::auth_service_client::AuthServiceClient;
use canvass::proto::v1::revoke_tokens_request::Target;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Code;

use crate::helpers::*;

fn auth_as(app: &TestApp, token: &str) -> AuthServiceClient<Authed> {
    AuthServiceClient::with_interceptor(app.channel.clone(), TestApp::bearer_for(token))
}

fn admin(app: &TestApp) -> AuthServiceClient<Authed> {
    auth_as(app, &app.token(Role::Admin, &[]))
}

/// The `jti` a token carries.
fn token_id(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"]
        .as_str()
        .expect("minted tokens carry a jti")
        .to_owned()
}

fn analyst_token(app: &TestApp, subject: &str) -> String {
    app.issuer
        .mint(subject, Role::Analyst, &[], Duration::from_secs(3600))
        .unwrap()
}

/// An analyst token of `subject` issued at `iat`, signed with the server's own key.
fn analyst_token_issued_at(app: &TestApp, subject: &str, iat: u64) -> String {
    let pem = std::fs::read(app.data_dir.path().join("jwt-ed25519.pem")).unwrap();
    let claims = Claims {
        sub: subject.into(),
        role: Role::Analyst,
        units: Vec::new(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: jsonwebtoken::get_current_timestamp() + 3600,
        nbf: iat - 10,
        iat,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let key = EncodingKey::from_ed_pem(&pem).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap()
}

async fn get_city(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    app.catalog_as(Some(token))
        .get_unit(pb::GetUnitRequest { id: "city".into() })
        .await
        .map(drop)
}

async fn assert_revoked(app: &TestApp, token: &str) {
    let status = get_city(app, token).await.expect_err("revoked");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
}

fn by_id(id: &str, reason: &str) -> pb::RevokeTokensRequest {
    pb::RevokeTokensRequest {
        target: Some(Target::TokenId(id.into())),
        issued_before: None,
        reason: reason.into(),
    }
}

fn by_subject(subject: &str, before: Option<u64>) -> pb::RevokeTokensRequest {
    pb::RevokeTokensRequest {
        target: Some(Target::Subject(subject.into())),
        issued_before: before.map(|s| prost_types::Timestamp {
            seconds: s as i64,
            nanos: 0,
        }),
        reason: "phone lost".into(),
    }
}

/// (jti, subject, revoked_by, reason) of every stored revocation.
async fn stored_revocations(
    app: &TestApp,
) -> Vec<(Option<String>, Option<String>, String, String)> {
    use sqlx::Connection as _;
    const SELECT: &str =
        "SELECT jti, subject, revoked_by, reason FROM token_revocations ORDER BY seq";
    if app.database_url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(SELECT).fetch_all(&mut db).await.unwrap()
    } else {
        let mut db = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_as(SELECT).fetch_all(&mut db).await.unwrap()
    }
}

per_backend! {
    async fn a_token_revoked_by_id_is_refused_from_the_next_call(app: TestApp) {
        app.seed_units().await;
        let lost = analyst_token(&app, "phone-7");
        let other = analyst_token(&app, "phone-7");
        // Verified and cached before the revocation.
        get_city(&app, &lost).await.unwrap();
        get_city(&app, &other).await.unwrap();

        let revocation = admin(&app)
            .revoke_tokens(by_id(&token_id(&lost), "reported stolen"))
            .await
            .unwrap()
            .into_inner()
            .revocation
            .unwrap();
        assert_eq!(revocation.target, Some(pb::revocation::Target::TokenId(token_id(&lost))));
        assert_eq!(revocation.revoked_by, "admin-tester");
        assert!(revocation.revoke_time.is_some());

        assert_revoked(&app, &lost).await;
        // The subject's other token is not the one revoked.
        get_city(&app, &other).await.unwrap();
        assert_eq!(
            stored_revocations(&app).await,
            [(Some(token_id(&lost)), None, "admin-tester".to_owned(), "reported stolen".to_owned())]
        );
        let audit = app
            .audit_service(Role::Admin)
            .list_audit_entries(pb::ListAuditEntriesRequest {
                target_kind: "token".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert_eq!(audit.len(), 1);
        let entry = &audit[0];
        assert_eq!((entry.action.as_str(), entry.actor.as_str()), ("revoke", "admin-tester"));
        assert_eq!(entry.target_id, token_id(&lost));
        let after: serde_json::Value = serde_json::from_str(&entry.after).unwrap();
        assert_eq!(after["jti"], token_id(&lost));
        assert_eq!(after["reason"], "reported stolen");
    }

    async fn a_subjects_tokens_issued_before_the_cut_off_are_refused(app: TestApp) {
        app.seed_units().await;
        let now = jsonwebtoken::get_current_timestamp();
        let old = analyst_token_issued_at(&app, "phone-7", now - 60);
        let bystander = analyst_token(&app, "phone-8");
        get_city(&app, &old).await.unwrap();

        // Cut-off now (the default).
        admin(&app).revoke_tokens(by_subject("phone-7", None)).await.unwrap();
        assert_revoked(&app, &old).await;
        // Issued in the second the cut-off was taken from (or before): still refused. (A token
        // minted by the clock here could fall in the next second, after the cut-off.)
        assert_revoked(&app, &analyst_token_issued_at(&app, "phone-7", now)).await;
        get_city(&app, &bystander).await.unwrap();
        // A replacement issued after the cut-off is accepted.
        get_city(&app, &analyst_token_issued_at(&app, "phone-7", now + 2)).await.unwrap();

        // An explicit cut-off in the past spares tokens issued since.
        let earlier = analyst_token_issued_at(&app, "phone-9", now - 7200);
        admin(&app).revoke_tokens(by_subject("phone-9", Some(now - 3600))).await.unwrap();
        assert_revoked(&app, &earlier).await;
        get_city(&app, &analyst_token(&app, "phone-9")).await.unwrap();
        let stored = stored_revocations(&app).await;
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].1.as_deref(), Some("phone-7"));
        assert_eq!(stored[0].3, "phone lost");
    }

    async fn only_admins_revoke_and_a_reason_is_required(app: TestApp) {
        app.seed_units().await;
        for role in [Role::Analyst, Role::Reviewer, Role::FieldWorker, Role::CallCenter] {
            let status = auth_as(&app, &app.token(role, &["city"]))
                .revoke_tokens(by_subject("phone-7", None))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
        }
        let status = admin(&app).revoke_tokens(by_id("t1", " ")).await.unwrap_err();
        assert_eq!(violated_fields(&status), ["reason"]);
        let status = admin(&app)
            .revoke_tokens(pb::RevokeTokensRequest { reason: "x".into(), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["target"]);
        assert!(stored_revocations(&app).await.is_empty());
        get_city(&app, &analyst_token(&app, "phone-7")).await.unwrap();
    }
}

/// Two server processes on one PostgreSQL database: a revocation made on either is honoured
/// by the other, for tokens it has cached as verified too. The other process's periodic reload
/// (a minute) is longer than the deadline, so the notification is what carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_every_process_on_postgres() {
    let Some(first) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    first.seed_units().await;
    let second = first.spawn_beside().await;
    let lost = analyst_token(&first, "phone-7");
    let stolen = analyst_token(&first, "phone-8");
    let kept = analyst_token(&first, "phone-9");
    for token in [&lost, &stolen, &kept] {
        get_city(&second, token)
            .await
            .expect("second process trusts the first's key");
        get_city(&first, token).await.unwrap();
    }

    admin(&first)
        .revoke_tokens(by_id(&token_id(&lost), "lost"))
        .await
        .unwrap();
    assert_revoked(&first, &lost).await;
    refused_within(&second, &lost, Duration::from_secs(10)).await;

    // The other way round, by subject.
    auth_as(&second, &second.token(Role::Admin, &[]))
        .revoke_tokens(by_subject("phone-8", None))
        .await
        .unwrap();
    assert_revoked(&second, &stolen).await;
    refused_within(&first, &stolen, Duration::from_secs(10)).await;

    get_city(&first, &kept).await.unwrap();
    get_city(&second, &kept).await.unwrap();
}

/// Waits until `app` refuses `token` as revoked; fails after `limit`.
async fn refused_within(app: &TestApp, token: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match get_city(app, token).await {
            Ok(()) => assert!(
                tokio::time::Instant::now() < deadline,
                "still accepted after {limit:?}"
            ),
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                assert!(status.message().contains("revoked"), "{status:?}");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
