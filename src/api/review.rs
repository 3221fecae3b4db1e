use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{
    action_to_proto, campaign_and_unit, grievance_listing_from_proto, grievance_summary_to_proto,
    grievance_to_proto, grievance_update_from_proto, review_action_listing_from_proto,
    submission_listing_from_proto, submission_review_from_proto, summary_to_proto,
};
use crate::fieldwork::Fieldwork;
use crate::proto::v1 as pb;
use crate::proto::v1::review_service_server::ReviewService;

pub struct ReviewApi {
    pub fieldwork: Fieldwork,
}

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    /// # Errors
    /// INVALID_ARGUMENT for malformed arguments or a foreign page token; PERMISSION_DENIED when
    /// the token covers none of the units; NOT_FOUND for an unknown campaign or unit.
    async fn list_submissions(
        &self,
        request: Request<pb::ListSubmissionsRequest>,
    ) -> Result<Response<pb::ListSubmissionsResponse>, Status> {
        let caller = caller(&request)?;
        let list = submission_listing_from_proto(request.into_inner())?;
        let (state, flag) = list.filter;
        let rows = self
            .fieldwork
            .list_submissions(&caller, &list.listing(), state, flag)
            .await?;
        Ok(Response::new(pb::ListSubmissionsResponse {
            submissions: rows.rows.iter().map(summary_to_proto).collect(),
            next_page_token: list.page.token_after(rows.last),
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed arguments or a missing reason; PERMISSION_DENIED outside
    /// the token's units; NOT_FOUND; FAILED_PRECONDITION when the decision does not apply.
    async fn review_submission(
        &self,
        request: Request<pb::ReviewSubmissionRequest>,
    ) -> Result<Response<pb::SubmissionSummary>, Status> {
        let caller = caller(&request)?;
        let review = submission_review_from_proto(request.into_inner())?;
        let summary = self
            .fieldwork
            .review(
                &caller,
                &review.campaign_id,
                review.submission_id,
                review.decision,
                &review.reason,
            )
            .await?;
        Ok(Response::new(summary_to_proto(&summary)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed arguments; PERMISSION_DENIED; NOT_FOUND.
    async fn list_review_actions(
        &self,
        request: Request<pb::ListReviewActionsRequest>,
    ) -> Result<Response<pb::ListReviewActionsResponse>, Status> {
        let caller = caller(&request)?;
        let list = review_action_listing_from_proto(request.into_inner())?;
        let rows = self
            .fieldwork
            .review_actions(&caller, &list.listing(), list.filter)
            .await?;
        Ok(Response::new(pb::ListReviewActionsResponse {
            actions: rows.rows.iter().map(action_to_proto).collect(),
            next_page_token: list.page.token_after(rows.last),
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed arguments; PERMISSION_DENIED; NOT_FOUND.
    async fn list_grievances(
        &self,
        request: Request<pb::ListGrievancesRequest>,
    ) -> Result<Response<pb::ListGrievancesResponse>, Status> {
        let caller = caller(&request)?;
        let list = grievance_listing_from_proto(request.into_inner())?;
        let rows = self
            .fieldwork
            .grievances(&caller, &list.listing(), list.filter)
            .await?;
        Ok(Response::new(pb::ListGrievancesResponse {
            grievances: rows.rows.iter().map(grievance_to_proto).collect(),
            next_page_token: list.page.token_after(rows.last),
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed arguments; PERMISSION_DENIED outside the token's units;
    /// NOT_FOUND for an unknown grievance.
    async fn update_grievance(
        &self,
        request: Request<pb::UpdateGrievanceRequest>,
    ) -> Result<Response<pb::Grievance>, Status> {
        let caller = caller(&request)?;
        let update = grievance_update_from_proto(request.into_inner())?;
        let grievance = self
            .fieldwork
            .update_grievance(
                &caller,
                &update.campaign_id,
                &update.grievance_id,
                update.status,
            )
            .await?;
        Ok(Response::new(grievance_to_proto(&grievance)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids; PERMISSION_DENIED; NOT_FOUND; FAILED_PRECONDITION for
    /// a unit outside the campaign's scope.
    async fn get_grievance_summary(
        &self,
        request: Request<pb::GetGrievanceSummaryRequest>,
    ) -> Result<Response<pb::GrievanceSummary>, Status> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let (campaign, unit) = campaign_and_unit(&r.campaign_id, &r.unit_id)?;
        let summary = self
            .fieldwork
            .grievance_summary(&caller, &campaign, &unit)
            .await?;
        Ok(Response::new(grievance_summary_to_proto(
            &campaign, &unit, &summary,
        )))
    }
}
