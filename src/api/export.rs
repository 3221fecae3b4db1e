use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::convert::{
    export_attempts_from_proto, export_submissions_from_proto, exported_attempt_to_proto,
    exported_submission_to_proto,
};
use crate::exports::Exports;
use crate::proto::v1 as pb;
use crate::proto::v1::export_service_server::ExportService;

pub struct ExportApi {
    pub exports: Exports,
}

type Batches<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl ExportService for ExportApi {
    type ExportSubmissionsStream = Batches<pb::ExportSubmissionsResponse>;
    type ExportCallAttemptsStream = Batches<pb::ExportCallAttemptsResponse>;

    /// # Errors
    /// INVALID_ARGUMENT naming every malformed field; NOT_FOUND for an unknown campaign or
    /// unit; FAILED_PRECONDITION (UNIT_OUT_OF_CAMPAIGN_SCOPE) for a unit outside its scope. A
    /// failed read later ends the stream with UNAVAILABLE or INTERNAL.
    async fn export_submissions(
        &self,
        request: Request<pb::ExportSubmissionsRequest>,
    ) -> Result<Response<Self::ExportSubmissionsStream>, Status> {
        let query = export_submissions_from_proto(request.get_ref())?;
        let batches = self.exports.submissions(query).await?;
        Ok(Response::new(Box::pin(batches.map(|batch| {
            Ok(pb::ExportSubmissionsResponse {
                submissions: batch?.iter().map(exported_submission_to_proto).collect(),
            })
        }))))
    }

    /// # Errors
    /// As `export_submissions`.
    async fn export_call_attempts(
        &self,
        request: Request<pb::ExportCallAttemptsRequest>,
    ) -> Result<Response<Self::ExportCallAttemptsStream>, Status> {
        let query = export_attempts_from_proto(request.get_ref())?;
        let batches = self.exports.attempts(query).await?;
        Ok(Response::new(Box::pin(batches.map(|batch| {
            Ok(pb::ExportCallAttemptsResponse {
                call_attempts: batch?.iter().map(exported_attempt_to_proto).collect(),
            })
        }))))
    }
}
