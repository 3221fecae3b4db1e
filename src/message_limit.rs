//! Answers a request message over the decoding limit with RESOURCE_EXHAUSTED, the code the
//! gRPC specification gives "request message larger than the server's configured maximum".
//!
//! tonic's decoder answers it OUT_OF_RANGE, in the response headers of a unary call and in
//! the trailers of a stream, and offers no setting to change that. Canvass itself never
//! answers OUT_OF_RANGE (the crate's one status mapping, in `error.rs`, has no such case), so
//! this layer, around every service, renames the code wherever a response carries it.

use std::task::{Context, Poll};

use futures::TryFutureExt;
use futures::future::MapOk;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use tower::{Layer, Service};

use crate::response_body::{FrameHook, HookedBody};

const GRPC_STATUS: &str = "grpc-status";
/// The codes as `grpc-status` spells them (the numbers of `tonic::Code`).
const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";

#[derive(Clone, Copy, Debug, Default)]
pub struct MessageLimitLayer;

impl<S> Layer<S> for MessageLimitLayer {
    type Service = MessageLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageLimit { inner }
    }
}

#[derive(Clone, Debug)]
pub struct MessageLimit<S> {
    inner: S,
}

type Rename<B> = fn(Response<B>) -> Response<Renamed<B>>;

impl<S, B, ResBody> Service<Request<B>> for MessageLimit<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<Renamed<ResBody>>;
    type Error = S::Error;
    type Future = MapOk<S::Future, Rename<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.inner.call(request).map_ok(rename_response)
    }
}

fn rename_response<B>(mut response: Response<B>) -> Response<Renamed<B>> {
    // A unary call's decoding error comes back "trailers-only": the status is in the headers.
    rename(response.headers_mut());
    response.map(|inner| HookedBody::new(inner, RenameTrailers))
}

fn rename(headers: &mut HeaderMap) {
    if headers
        .get(GRPC_STATUS)
        .is_some_and(|status| status.as_bytes() == OUT_OF_RANGE.as_bytes())
    {
        headers.insert(GRPC_STATUS, HeaderValue::from_static(RESOURCE_EXHAUSTED));
    }
}

/// A response body whose trailers get the same renaming (a stream's error ends it there).
pub type Renamed<B> = HookedBody<B, RenameTrailers>;

pub struct RenameTrailers;

impl<D> FrameHook<D> for RenameTrailers {
    fn on_frame(&mut self, frame: Option<&mut Frame<D>>) {
        if let Some(trailers) = frame.and_then(Frame::trailers_mut) {
            rename(trailers);
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn the_spelled_codes_are_tonics() {
        assert_eq!(OUT_OF_RANGE, (Code::OutOfRange as i32).to_string());
        assert_eq!(
            RESOURCE_EXHAUSTED,
            (Code::ResourceExhausted as i32).to_string()
        );
    }

    #[test]
    fn only_out_of_range_is_renamed() {
        for (code, expected) in [
            (Code::OutOfRange, Code::ResourceExhausted),
            (Code::InvalidArgument, Code::InvalidArgument),
            (Code::Ok, Code::Ok),
        ] {
            let mut headers = tonic::Status::new(code, "x")
                .into_http::<tonic::body::Body>()
                .headers()
                .clone();
            rename(&mut headers);
            let status = tonic::Status::from_header_map(&headers).expect("a status");
            assert_eq!(status.code(), expected);
        }
    }
}
