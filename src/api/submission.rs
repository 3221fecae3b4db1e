use tonic::{Request, Response, Status, Streaming};

use super::caller;
use super::convert::{acknowledgement_to_proto, phone_poll_draft, visit_draft};
use super::upload::{ResultStream, Uploader};
use crate::domain::phone::PhoneHasher;
use crate::ingest::Ingest;
use crate::proto::v1 as pb;
use crate::proto::v1::submission_service_server::SubmissionService;

pub struct SubmissionApi {
    pub ingest: Ingest,
    pub phone_hasher: PhoneHasher,
    /// Items of one upload stream processed at once (its memory bound).
    pub upload_max_in_flight: usize,
    /// Turns true when the server begins to shut down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

#[tonic::async_trait]
impl SubmissionService for SubmissionApi {
    /// # Errors
    /// INVALID_ARGUMENT (with BadRequest field violations), PERMISSION_DENIED, NOT_FOUND,
    /// FAILED_PRECONDITION, ALREADY_EXISTS, UNAVAILABLE: see [`Ingest::submit`].
    async fn submit_visit(
        &self,
        request: Request<pb::SubmitVisitRequest>,
    ) -> Result<Response<pb::SubmitVisitResponse>, Status> {
        let caller = caller(&request)?;
        let draft = visit_draft(request.into_inner())?;
        let ack = self.ingest.submit(&caller, draft).await?;
        Ok(Response::new(pb::SubmitVisitResponse {
            acknowledgement: Some(acknowledgement_to_proto(ack)),
        }))
    }

    /// # Errors
    /// As `submit_visit`; the phone number must be E.164.
    async fn submit_phone_poll(
        &self,
        request: Request<pb::SubmitPhonePollRequest>,
    ) -> Result<Response<pb::SubmitPhonePollResponse>, Status> {
        let caller = caller(&request)?;
        let draft = phone_poll_draft(request.into_inner(), &self.phone_hasher)?;
        let ack = self.ingest.submit(&caller, draft).await?;
        Ok(Response::new(pb::SubmitPhonePollResponse {
            acknowledgement: Some(acknowledgement_to_proto(ack)),
        }))
    }

    type UploadSubmissionsStream = ResultStream;

    /// Answers every item with its acknowledgement or its own error (see [`Uploader`]).
    ///
    /// # Errors
    /// The stream fails only on a malformed frame or a transport error; items fail alone.
    async fn upload_submissions(
        &self,
        request: Request<Streaming<pb::UploadSubmissionsRequest>>,
    ) -> Result<Response<Self::UploadSubmissionsStream>, Status> {
        let uploader = Uploader {
            caller: caller(&request)?,
            ingest: self.ingest.clone(),
            phone_hasher: self.phone_hasher.clone(),
            stopping: self.stopping.clone(),
        };
        let items = request.into_inner();
        Ok(Response::new(
            uploader.results(items, self.upload_max_in_flight),
        ))
    }
}
