use tonic::{Request, Response, Status};

use super::convert::{briefing_query_from_proto, briefing_to_proto};
use crate::briefing::Briefings;
use crate::proto::v1 as pb;
use crate::proto::v1::briefing_service_server::BriefingService;

pub struct BriefingApi {
    pub briefings: Briefings,
}

#[tonic::async_trait]
impl BriefingService for BriefingApi {
    /// # Errors
    /// INVALID_ARGUMENT naming malformed ids or counts out of range; NOT_FOUND for an unknown
    /// campaign or scope unit; FAILED_PRECONDITION for a scope outside the campaign's.
    async fn get_campaign_briefing(
        &self,
        request: Request<pb::GetCampaignBriefingRequest>,
    ) -> Result<Response<pb::CampaignBriefing>, Status> {
        let query = briefing_query_from_proto(request.get_ref())?;
        let briefing = self.briefings.briefing(&query).await?;
        Ok(Response::new(briefing_to_proto(briefing)))
    }
}
