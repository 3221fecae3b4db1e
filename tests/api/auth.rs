//! Every authentication and authorisation failure, and the public health/reflection methods.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canvass::auth::{Claims, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Code;

use crate::helpers::*;

fn claims(role: Role, units: &[&str]) -> Claims {
    let now = jsonwebtoken::get_current_timestamp();
    Claims {
        sub: "tester".into(),
        role,
        units: units.iter().map(|u| u.to_string()).collect(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: now + 3600,
        nbf: now - 10,
        iat: now - 10,
        jti: uuid::Uuid::new_v4().to_string(),
    }
}

fn sign(app: &TestApp, claims: &Claims) -> String {
    let pem = std::fs::read(app.data_dir.path().join("jwt-ed25519.pem")).unwrap();
    let key = EncodingKey::from_ed_pem(&pem).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &key).unwrap()
}

/// Calls GetUnit with `token` and returns the status.
async fn get_unit_with(app: &TestApp, token: Option<&str>) -> tonic::Status {
    app.catalog_as(token)
        .get_unit(canvass::proto::v1::GetUnitRequest { id: "city".into() })
        .await
        .expect_err("call must be refused")
}

/// A GetUnit request carrying one `authorization` header per value.
fn with_authorization(values: &[&str]) -> tonic::Request<canvass::proto::v1::GetUnitRequest> {
    let mut request = tonic::Request::new(canvass::proto::v1::GetUnitRequest { id: "city".into() });
    for value in values {
        request
            .metadata_mut()
            .append("authorization", value.parse().unwrap());
    }
    request
}

async fn assert_unauthenticated(app: &TestApp, token: Option<&str>, message_part: &str) {
    let status = get_unit_with(app, token).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains(message_part),
        "message {:?} should mention {message_part:?}",
        status.message()
    );
    if let Some(token) = token {
        assert!(
            !status.message().contains(token),
            "the token must never be echoed"
        );
    }
}

per_backend! {
    async fn missing_or_malformed_header_is_unauthenticated(app: TestApp) {
        app.seed_units().await;
        assert_unauthenticated(&app, None, "missing authorization").await;
        let mut request = tonic::Request::new(canvass::proto::v1::GetUnitRequest { id: "city".into() });
        request.metadata_mut().insert("authorization", "Basic YWRtaW46YWRtaW4=".parse().unwrap());
        let status = app.catalog_as(None).get_unit(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(status.message().contains("Bearer"), "{status:?}");
        assert_unauthenticated(&app, Some("not-a-jwt"), "malformed").await;
    }

    async fn bearer_scheme_is_matched_in_any_case(app: TestApp) {
        app.seed_units().await;
        let token = app.token(Role::Analyst, &[]);
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let request = with_authorization(&[&format!("{scheme} {token}")]);
            let unit = app
                .catalog_as(None)
                .get_unit(request)
                .await
                .unwrap_or_else(|s| panic!("{scheme}: {s:?}"));
            assert_eq!(unit.into_inner().id, "city");
        }
    }

    async fn two_authorization_headers_are_unauthenticated(app: TestApp) {
        app.seed_units().await;
        let admin = format!("Bearer {}", app.token(Role::Admin, &[]));
        let analyst = format!("Bearer {}", app.token(Role::Analyst, &[]));
        // Refused whether the two agree or not, and whichever comes first: neither is taken.
        for pair in [[&admin, &admin], [&analyst, &admin], [&admin, &analyst]] {
            let status = app
                .catalog_as(None)
                .get_unit(with_authorization(&[pair[0], pair[1]]))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            assert!(status.message().contains("more than one authorization"), "{status:?}");
        }
    }

    async fn expired_token_is_unauthenticated(app: TestApp) {
        app.seed_units().await;
        let mut c = claims(Role::Admin, &[]);
        c.exp = jsonwebtoken::get_current_timestamp() - 3600;
        c.nbf = c.exp - 7200;
        assert_unauthenticated(&app, Some(&sign(&app, &c)), "expired").await;
    }

    async fn token_not_yet_valid_is_unauthenticated(app: TestApp) {
        app.seed_units().await;
        let mut c = claims(Role::Admin, &[]);
        c.nbf = jsonwebtoken::get_current_timestamp() + 3600;
        assert_unauthenticated(&app, Some(&sign(&app, &c)), "not valid yet").await;
    }

    async fn bad_signature_is_unauthenticated(app: TestApp) {
        app.seed_units().await;
        let other_dir = tempfile::tempdir().unwrap();
        let paths = canvass::auth::KeyPaths {
            private_key: other_dir.path().join("k.pem"),
            public_key: other_dir.path().join("k.pub.pem"),
        };
        canvass::auth::ensure_keypair(&paths).unwrap();
        let foreign = canvass::auth::TokenIssuer::from_pem_file(&paths.private_key, ISSUER, AUDIENCE).unwrap();
        let token = foreign.mint("mallory", Role::Admin, &[], std::time::Duration::from_secs(600)).unwrap();
        assert_unauthenticated(&app, Some(&token), "signature").await;

        // A valid token with one payload character changed.
        let good = app.token(Role::Admin, &[]);
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let mut payload = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
        let last = payload.len() - 2;
        payload[last] ^= 1;
        parts[1] = URL_SAFE_NO_PAD.encode(payload);
        let tampered = parts.join(".");
        assert_eq!(get_unit_with(&app, Some(&tampered)).await.code(), Code::Unauthenticated);
    }

    async fn wrong_audience_or_issuer_is_unauthenticated(app: TestApp) {
        app.seed_units().await;
        let mut c = claims(Role::Admin, &[]);
        c.aud = "another-service".into();
        assert_unauthenticated(&app, Some(&sign(&app, &c)), "audience").await;
        let mut c = claims(Role::Admin, &[]);
        c.iss = "someone-else".into();
        assert_unauthenticated(&app, Some(&sign(&app, &c)), "issuer").await;
    }

    async fn alg_none_and_algorithm_confusion_are_unauthenticated(app: TestApp) {
        app.seed_units().await;
        let c = claims(Role::Admin, &[]);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        for alg in ["none", "None", "NONE"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
                assert_eq!(get_unit_with(&app, Some(&token)).await.code(), Code::Unauthenticated);
            }
        }
        // HS256 "signed" with the server's public key, the classic confusion attack.
        let public_pem = std::fs::read(app.data_dir.path().join("jwt-ed25519.pub.pem")).unwrap();
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        assert_unauthenticated(&app, Some(&forged), "algorithm").await;
    }

    async fn wrong_role_is_permission_denied(app: TestApp) {
        app.seed().await;
        let analyst = app.token(Role::Analyst, &[]);
        let status = app
            .submissions_as(Some(&analyst))
            .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

        let call_center = app.token(Role::CallCenter, &["city"]);
        let status = app
            .submissions_as(Some(&call_center))
            .submit_visit(visit("c1", "jinshi-v1", vec![answer("security", "a")]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);

        let field_worker = app.token(Role::FieldWorker, &["city"]);
        let status = app
            .submissions_as(Some(&field_worker))
            .submit_phone_poll(phone_poll("c1", "jinshi-v1", "+8613800138000", vec![answer("security", "a")]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = app
            .catalog_as(Some(&field_worker))
            .get_unit(canvass::proto::v1::GetUnitRequest { id: "city".into() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = app
            .aggregates_as(Some(&field_worker))
            .get_unit_score(canvass::proto::v1::GetUnitScoreRequest { campaign_id: "c1".into(), unit_id: "city".into() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);

        // Analysts read the catalog but may not change it.
        let mut catalog = app.catalog_as(Some(&analyst));
        catalog.get_unit(canvass::proto::v1::GetUnitRequest { id: "city".into() }).await.unwrap();
        let status = catalog
            .create_unit(canvass::proto::v1::CreateUnitRequest {
                unit: Some(canvass::proto::v1::Unit { id: "x".into(), name: "X".into(), kind: 2, ..Default::default() }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(app.stored_count("c1").await, 0);
    }

    async fn unit_outside_the_token_is_permission_denied_and_writes_nothing(app: TestApp) {
        app.seed().await;
        let mut worker = app.field_worker(&["jinshi"]);
        // Within the token's unit subtree: accepted.
        worker.submit_visit(visit("c1", "jinshi-v2", vec![answer("security", "a")])).await.unwrap();
        // A sibling township's community: refused.
        let status = worker
            .submit_visit(visit("c1", "dongshan-c1", vec![answer("security", "a")]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        // An unknown unit is refused the same way, revealing nothing about existence.
        let status = worker
            .submit_visit(visit("c1", "no-such-unit", vec![answer("security", "a")]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        // The parent of the token's unit is outside it too.
        let status = worker
            .submit_visit(visit("c1", "city", vec![answer("security", "a")]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(app.stored_count("c1").await, 1);
    }

    async fn health_and_reflection_need_no_token(app: TestApp) {
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        let mut health = HealthClient::new(app.channel.clone());
        let overall = health.check(HealthCheckRequest { service: String::new() }).await.unwrap();
        assert_eq!(overall.into_inner().status, 1, "SERVING");
        let submissions = health
            .check(HealthCheckRequest { service: "canvass.v1.SubmissionService".into() })
            .await
            .unwrap();
        assert_eq!(submissions.into_inner().status, 1);

        let v1 = reflection_v1_services(&app).await;
        let v1alpha = reflection_v1alpha_services(&app).await;
        for services in [&v1, &v1alpha] {
            for expected in [
                "canvass.v1.SubmissionService",
                "canvass.v1.CatalogService",
                "canvass.v1.AggregateService",
                "grpc.health.v1.Health",
            ] {
                assert!(services.iter().any(|s| s == expected), "{expected} missing from {services:?}");
            }
        }
    }
}

async fn reflection_v1_services(app: &TestApp) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}

async fn reflection_v1alpha_services(app: &TestApp) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection response {other:?}"),
    }
}
