//! The tower layer that authenticates every call (except health and reflection) and checks the
//! caller's role against the method, before any handler runs.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::Status;
use tower::{Layer, Service};

use super::cache::CachedVerifier;
use super::principal::{Principal, Role};
use crate::error::Error;

/// Methods anyone may call: load balancers and tools probe these without credentials.
const PUBLIC_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// The roles allowed to call a method (`admin` may call everything).
fn allowed_roles(path: &str) -> &'static [Role] {
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or_default();
    match (service, method) {
        ("canvass.v1.SubmissionService", "SubmitVisit") => &[Role::FieldWorker],
        ("canvass.v1.SubmissionService", "SubmitPhonePoll") => &[Role::CallCenter],
        // An upload may carry both kinds; each item is checked against its kind.
        ("canvass.v1.SubmissionService", "UploadSubmissions") => {
            &[Role::FieldWorker, Role::CallCenter]
        }
        ("canvass.v1.CatalogService", m) if m.starts_with("Get") || m.starts_with("List") => {
            &[Role::Analyst]
        }
        ("canvass.v1.AggregateService", _) => &[Role::Analyst],
        ("canvass.v1.CallCenterService", "LogCallAttempt") => &[Role::CallCenter],
        ("canvass.v1.CallCenterService", "GetResponseRates") => &[Role::Analyst],
        ("canvass.v1.ReviewService", _) => &[Role::Reviewer],
        ("canvass.v1.ExportService", _) => &[Role::Analyst],
        _ => &[],
    }
}

/// The token of the request's one `authorization: Bearer <token>` header. The scheme is matched
/// case-insensitively (RFC 7235); two headers are refused rather than one picked, since a proxy
/// and a client could each have added one.
fn bearer_token(headers: &http::HeaderMap) -> Result<&str, Error> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let header = values
        .next()
        .ok_or_else(|| Error::Unauthenticated("missing authorization: Bearer <token>".into()))?;
    if values.next().is_some() {
        return Err(Error::Unauthenticated(
            "more than one authorization header; send one".into(),
        ));
    }
    header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Error::Unauthenticated("authorization must be \"Bearer <token>\"".into()))
}

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<CachedVerifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<CachedVerifier>) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    verifier: Arc<CachedVerifier>,
}

impl<S> Authenticated<S> {
    fn authorize<B>(&self, request: &Request<B>) -> Result<Principal, Error> {
        let path = request.uri().path();
        let token = bearer_token(request.headers()).inspect_err(|e| {
            tracing::debug!(path, error = %e, "no usable authorization header");
        })?;
        let principal = self.verifier.verify(token).inspect_err(|e| {
            tracing::info!(path, error = %e, "token rejected");
        })?;
        let allowed = allowed_roles(path);
        if principal.role != Role::Admin && !allowed.contains(&principal.role) {
            return Err(Error::PermissionDenied(format!(
                "role {} may not call {path}",
                principal.role
            )));
        }
        Ok(principal)
    }
}

impl<S, B, ResBody> Service<Request<B>> for Authenticated<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Box::pin(self.inner.call(request));
        }
        match self.authorize(&request) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                Box::pin(self.inner.call(request))
            }
            Err(error) => {
                let response = Status::from(error).into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_methods_need_their_own_role() {
        assert_eq!(
            allowed_roles("/canvass.v1.SubmissionService/SubmitVisit"),
            &[Role::FieldWorker]
        );
        assert_eq!(
            allowed_roles("/canvass.v1.SubmissionService/SubmitPhonePoll"),
            &[Role::CallCenter]
        );
        assert_eq!(
            allowed_roles("/canvass.v1.SubmissionService/UploadSubmissions"),
            &[Role::FieldWorker, Role::CallCenter]
        );
    }

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(http::header::AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc "] {
            assert_eq!(bearer_token(&headers(&[value])).unwrap(), "abc", "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "Token abc"] {
            let error = bearer_token(&headers(&[value])).unwrap_err();
            assert!(
                error.to_string().contains("Bearer <token>"),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn none_or_two_authorization_headers_are_refused() {
        let missing = bearer_token(&headers(&[])).unwrap_err();
        assert!(missing.to_string().contains("missing authorization"));
        let two = bearer_token(&headers(&["Bearer abc", "Bearer abc"])).unwrap_err();
        assert!(two.to_string().contains("more than one"), "{two}");
    }

    #[test]
    fn analysts_read_but_do_not_create() {
        assert_eq!(
            allowed_roles("/canvass.v1.CatalogService/GetUnit"),
            &[Role::Analyst]
        );
        assert!(allowed_roles("/canvass.v1.CatalogService/CreateUnit").is_empty());
        assert!(allowed_roles("/canvass.v1.CatalogService/UpdateCampaign").is_empty());
        assert!(allowed_roles("/canvass.v1.AuditService/ListAuditEntries").is_empty());
        assert!(allowed_roles("/canvass.v1.CatalogService/ImportUnits").is_empty());
        assert_eq!(
            allowed_roles("/canvass.v1.ExportService/ExportSubmissions"),
            &[Role::Analyst]
        );
        assert!(allowed_roles("/unknown/Method").is_empty());
    }
}
