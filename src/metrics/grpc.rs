//! Counts gRPC calls by service, method and status code, with their durations.
//!
//! The status is read where gRPC puts it: in the response headers of a "trailers-only"
//! response (most errors of unary calls), otherwise in the trailers after the last message.
//! A call is therefore counted when it ends, streams included: a `WatchRankings` stream open
//! for an hour appears once it closes, with its whole duration. A response abandoned before
//! its trailers (the client cancelled or went away) counts as CANCELLED.
//!
//! Only the methods this server serves get their own labels; any other path (a scanner trying
//! names) counts under `unknown`, so clients cannot grow the number of series.

use std::collections::HashSet;

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::Frame;
use prost::Message;
use tonic::Code;
use tower::{Layer, Service};

use super::{GRPC_CALL_SECONDS, GRPC_CALLS, Metrics};
use crate::response_body::{FrameHook, HookedBody};

#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: Metrics,
}

impl GrpcMetricsLayer {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, ResBody> Service<Request<B>> for GrpcMetrics<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<Measured<ResBody>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut call = Some(Call {
            method: method_labels(request.uri().path()),
            started: Instant::now(),
            metrics: self.metrics.clone(),
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if let Some(code) = status_of(response.headers())
                && let Some(call) = call.take()
            {
                call.finish(code);
            }
            Ok(response.map(|inner| HookedBody::new(inner, Pending(call))))
        })
    }
}

/// A call whose status has not been seen yet.
struct Call {
    method: (&'static str, &'static str),
    started: Instant,
    metrics: Metrics,
}

impl Call {
    fn finish(self, code: Code) {
        let (service, method) = self.method;
        self.metrics
            .counter(
                GRPC_CALLS,
                &[
                    ("service", service.into()),
                    ("method", method.into()),
                    ("code", code_name(code).into()),
                ],
            )
            .increment(1);
        self.metrics
            .histogram(
                GRPC_CALL_SECONDS,
                &[("service", service.into()), ("method", method.into())],
            )
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// A response body that records its call's status when its trailers pass, or CANCELLED when
/// it is dropped before them.
pub type Measured<B> = HookedBody<B, Pending>;

/// The call of a response whose status has not passed yet.
pub struct Pending(Option<Call>);

impl<D> FrameHook<D> for Pending {
    fn on_frame(&mut self, frame: Option<&mut Frame<D>>) {
        match frame {
            Some(frame) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of)
                    && let Some(call) = self.0.take()
                {
                    call.finish(code);
                }
            }
            // A body that ends without a status broke the protocol.
            None => {
                if let Some(call) = self.0.take() {
                    call.finish(Code::Unknown);
                }
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.finish(Code::Cancelled);
        }
    }
}

fn status_of(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?;
    Some(Code::from_bytes(value.as_bytes()))
}

/// The `(service, method)` labels of a request path: its own for a method this server
/// serves, `unknown` for any other.
fn method_labels(path: &str) -> (&'static str, &'static str) {
    let known = KNOWN.get_or_init(known_methods);
    known
        .get(path)
        .map_or(("unknown", "unknown"), |&labels| labels)
}

static KNOWN: OnceLock<std::collections::HashMap<String, (&'static str, &'static str)>> =
    OnceLock::new();

/// Every method of the services behind the listener, from their file descriptors. The names
/// are leaked once per process: a fixed set of a few dozen strings.
fn known_methods() -> std::collections::HashMap<String, (&'static str, &'static str)> {
    let sets = [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut seen = HashSet::new();
    let mut known = std::collections::HashMap::new();
    for bytes in sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(bytes) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let service_name = format!("{package}.{}", service.name.unwrap_or_default());
                if !seen.insert(service_name.clone()) {
                    continue;
                }
                let service_label: &'static str = Box::leak(service_name.clone().into_boxed_str());
                for method in service.method {
                    let method_name = method.name.unwrap_or_default();
                    let path = format!("/{service_name}/{method_name}");
                    let method_label: &'static str = Box::leak(method_name.into_boxed_str());
                    known.insert(path, (service_label, method_label));
                }
            }
        }
    }
    known
}

/// The status code as the gRPC specification spells it (`NOT_FOUND`), the form dashboards
/// and other gRPC servers' metrics use.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_get_their_labels_and_others_do_not() {
        assert_eq!(
            method_labels("/canvass.v1.CatalogService/GetUnit"),
            ("canvass.v1.CatalogService", "GetUnit")
        );
        assert_eq!(
            method_labels("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(
            method_labels("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            (
                "grpc.reflection.v1alpha.ServerReflection",
                "ServerReflectionInfo"
            )
        );
        assert_eq!(
            method_labels("/canvass.v1.CatalogService/DropEverything"),
            ("unknown", "unknown")
        );
    }

    #[test]
    fn codes_are_spelled_as_the_specification_does() {
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::from_bytes(b"8")), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(Code::from_bytes(b"garbage")), "UNKNOWN");
    }
}
