use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{
    call_attempt_from_proto, campaign_and_unit, disposition_to_proto, response_rates_to_proto,
    timestamp_to_proto,
};
use crate::domain::phone::PhoneHasher;
use crate::domain::time::Timestamp;
use crate::fieldwork::Fieldwork;
use crate::proto::v1 as pb;
use crate::proto::v1::call_center_service_server::CallCenterService;

pub struct CallCenterApi {
    pub fieldwork: Fieldwork,
    pub phone_hasher: PhoneHasher,
}

#[tonic::async_trait]
impl CallCenterService for CallCenterApi {
    /// # Errors
    /// INVALID_ARGUMENT naming every malformed field; PERMISSION_DENIED outside the token's
    /// units; NOT_FOUND; FAILED_PRECONDITION outside the campaign's window or scope;
    /// ALREADY_EXISTS for a reused attempt id with other content.
    async fn log_call_attempt(
        &self,
        request: Request<pb::LogCallAttemptRequest>,
    ) -> Result<Response<pb::LogCallAttemptResponse>, Status> {
        let caller = caller(&request)?;
        let attempt = call_attempt_from_proto(
            request.into_inner(),
            &self.phone_hasher,
            &caller.subject,
            Timestamp::now(),
        )?;
        let receipt = self.fieldwork.log_attempt(&caller, attempt).await?;
        Ok(Response::new(pb::LogCallAttemptResponse {
            attempt_id: receipt.id.to_string(),
            accept_time: Some(timestamp_to_proto(receipt.accepted_at)),
            case_disposition: disposition_to_proto(receipt.case),
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids; NOT_FOUND for an unknown campaign or unit;
    /// FAILED_PRECONDITION for a unit outside the campaign's scope.
    async fn get_response_rates(
        &self,
        request: Request<pb::GetResponseRatesRequest>,
    ) -> Result<Response<pb::ResponseRates>, Status> {
        let r = request.into_inner();
        let (campaign, unit) = campaign_and_unit(&r.campaign_id, &r.unit_id)?;
        let rates = self.fieldwork.response_rates(&campaign, &unit).await?;
        Ok(Response::new(response_rates_to_proto(
            &campaign, &unit, &rates,
        )))
    }
}
