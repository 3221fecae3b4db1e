//! The ceiling: SubmissionService answering at once, with no auth and no storage, on the same
//! transport as Canvass. Its throughput is what the stack (tonic, HTTP/2, TCP, the load
//! client) allows on this machine; Canvass is reported as a fraction of it.

use std::net::SocketAddr;

use futures::StreamExt;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, Streaming};

use crate::connections::Connections;
use crate::error::{Error, Result};
use crate::listener::{ListenerSettings, incoming};
use crate::metrics::Metrics;
use crate::proto::v1 as pb;
use crate::proto::v1::submission_service_server::{SubmissionService, SubmissionServiceServer};
use crate::startup::{MAX_MESSAGE_BYTES, shutdown_signal, transport};

struct Noop;

#[tonic::async_trait]
impl SubmissionService for Noop {
    async fn submit_visit(
        &self,
        _request: Request<pb::SubmitVisitRequest>,
    ) -> Result<Response<pb::SubmitVisitResponse>, Status> {
        Ok(Response::new(pb::SubmitVisitResponse::default()))
    }

    async fn submit_phone_poll(
        &self,
        _request: Request<pb::SubmitPhonePollRequest>,
    ) -> Result<Response<pb::SubmitPhonePollResponse>, Status> {
        Ok(Response::new(pb::SubmitPhonePollResponse::default()))
    }

    type UploadSubmissionsStream = crate::api::UploadResultStream;

    /// An empty result per item, as soon as it is read.
    async fn upload_submissions(
        &self,
        request: Request<Streaming<pb::UploadSubmissionsRequest>>,
    ) -> Result<Response<Self::UploadSubmissionsStream>, Status> {
        let results = request.into_inner().enumerate().map(|(index, item)| {
            item.map(|_| pb::UploadSubmissionsResponse {
                index: index as i64,
                ..Default::default()
            })
        });
        Ok(Response::new(Box::pin(results)))
    }
}

/// Serves the no-op service on `listen` until SIGTERM or Ctrl-C, logging its address the way
/// `canvass serve` does.
pub async fn serve(listen: SocketAddr) -> Result<()> {
    serve_alone(
        listen,
        "no-op submission service",
        SubmissionServiceServer::new(Noop).max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .await
}

/// Serves one ceiling service on `listen`, on Canvass's transport and listener, until SIGTERM
/// or Ctrl-C, logging its address as `canvass serve` does.
pub(super) async fn serve_alone<S>(listen: SocketAddr, what: &str, service: S) -> Result<()>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::internal(format!("binding {listen}: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("reading bound address: {e}")))?;
    tracing::info!(%address, "{what} is serving");
    transport()
        .add_service(service)
        .serve_with_incoming_shutdown(
            incoming(
                listener,
                ListenerSettings::default(),
                None,
                &Connections::default(),
                &Metrics::new(),
            ),
            shutdown_signal(),
        )
        .await
        .map_err(|e| Error::internal(format!("{what}: {e}")))
}
