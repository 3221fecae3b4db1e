//! The tower layer that authenticates every call (except health and reflection) and checks the
//! caller's role against the method, before any handler runs.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::Status;
use tonic::transport::server::TcpConnectInfo;
use tower::{Layer, Service};

use super::cache::CachedVerifier;
use super::limits::Limits;
use super::principal::{Principal, Role};
use super::rejections::RejectionLog;
use super::revocation::Revocations;
use crate::domain::revocation::TokenFacts;
use crate::error::Error;
use crate::listener::ConnectionInfo;

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
        // A briefing reads what rankings read, plus counts of calls and grievances.
        ("canvass.v1.BriefingService", _) => &[Role::Analyst],
        ("canvass.v1.CallCenterService", "LogCallAttempt") => &[Role::CallCenter],
        ("canvass.v1.CallCenterService", "GetResponseRates") => &[Role::Analyst],
        ("canvass.v1.ReviewService", _) => &[Role::Reviewer],
        ("canvass.v1.ExportService", _) => &[Role::Analyst],
        // Revoking tokens is for admins alone.
        ("canvass.v1.AuthService", _) => &[],
        _ => &[],
    }
}

/// The token of the request's one `authorization: Bearer <token>` header. The scheme is matched
/// case-insensitively (RFC 7235); two headers are refused rather than one picked, since a proxy
/// and a client could each have added one.
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, Error> {
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

/// What every call passes through before its handler: the token (verified or from the cache),
/// revocations, the rate limits, the method's roles.
pub struct Gatekeeper {
    pub verifier: Arc<CachedVerifier>,
    pub revocations: Arc<Revocations>,
    pub limits: Limits,
    rejected: RejectionLog<IpAddr>,
    throttled: RejectionLog<String>,
}

/// How often the limits forget idle callers and the refusal logs sum up.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

impl Gatekeeper {
    pub fn new(
        verifier: Arc<CachedVerifier>,
        revocations: Arc<Revocations>,
        limits: Limits,
    ) -> Self {
        Self {
            verifier,
            revocations,
            limits,
            rejected: RejectionLog::new("tokens rejected", MAINTENANCE_INTERVAL),
            throttled: RejectionLog::new("calls over their rate limit", MAINTENANCE_INTERVAL),
        }
    }

    /// Forgets idle callers and sums up refusals, every minute, until its task is dropped.
    pub async fn maintain(self: Arc<Self>) {
        loop {
            tokio::time::sleep(MAINTENANCE_INTERVAL).await;
            self.limits.forget_idle();
            self.rejected.flush();
            self.throttled.flush();
        }
    }

    /// Checks a call to the RPC at `path` (`/package.Service/Method`): the token, its
    /// revocation, the rate limits and the method's roles. The dashboard's HTTP side passes
    /// the path of the RPC whose figures a page shows, so both sides allow exactly the same.
    pub async fn authorize(
        &self,
        path: &str,
        token: Result<String, Error>,
        peer: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        let token = token.inspect_err(|e| {
            tracing::debug!(path, error = %e, "no usable authorization header");
        })?;
        let peer_or_unknown = peer.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let verified = match self.verifier.lookup(&token) {
            Some(hit) => hit,
            None => {
                if let Some(peer) = peer {
                    self.limits.check_peer(peer).map_err(|wait| {
                        self.throttle(
                            format!("peer {peer}"),
                            path,
                            wait,
                            "token checks from this address",
                        )
                    })?;
                }
                self.verifier
                    .verify_fresh_reloading(&token)
                    .await
                    .inspect_err(|e| self.rejected.record(peer_or_unknown, path, e))?
            }
        };
        let facts = TokenFacts {
            subject: &verified.principal.subject,
            token_id: verified.token_id.as_deref(),
            issued_at: verified.issued_at,
        };
        if self.revocations.refuses(facts) {
            let error = Error::Unauthenticated("the token has been revoked".into());
            self.rejected.record(peer_or_unknown, path, &error);
            return Err(error);
        }
        let principal = verified.principal;
        self.limits
            .check_subject(&principal.subject)
            .map_err(|wait| {
                self.throttle(
                    format!("subject {:?}", principal.subject),
                    path,
                    wait,
                    "calls of this subject",
                )
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

    fn throttle(&self, who: String, path: &str, wait: Duration, what: &str) -> Error {
        let error = Error::ResourceExhausted {
            message: format!("too many {what}; retry later"),
            retry_after: wait,
        };
        self.throttled.record(who, path, &error);
        error
    }
}

/// The peer's address, from the connection the call came on.
fn peer_address<B>(request: &Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<ConnectionInfo>()
        .and_then(|info| info.remote_addr)
        .or_else(|| {
            extensions
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
        })
        .map(|address| address.ip())
}

#[derive(Clone)]
pub struct AuthLayer {
    gate: Arc<Gatekeeper>,
}

impl AuthLayer {
    pub fn new(gate: Arc<Gatekeeper>) -> Self {
        Self { gate }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            gate: self.gate.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    gate: Arc<Gatekeeper>,
}

impl<S, B, ResBody> Service<Request<B>> for Authenticated<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        if PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Box::pin(self.inner.call(request));
        }
        // The service that was made ready goes into the future; its clone stays for the next
        // call (tower's guidance for services that are called after an await).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let token = bearer_token(request.headers()).map(str::to_owned);
        let peer = peer_address(&request);
        Box::pin(async move {
            match gate.authorize(&path, token, peer).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(error) => Ok(Status::from(error).into_http()),
            }
        })
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
