use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{flag_to_proto, review_state_to_proto, timestamp_to_proto};
use super::pagination::Page;
use crate::domain::channel::Channel;
use crate::domain::flags::Flag;
use crate::domain::grievance::{Grievance, GrievanceStatus, Urgency};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::review::{Decision, ReviewAction, ReviewState, SubmissionSummary};
use crate::domain::submission::parse_submission_id;
use crate::error::Violations;
use crate::fieldwork::{Fieldwork, Listing};
use crate::proto::v1 as pb;
use crate::proto::v1::review_service_server::ReviewService;

pub struct ReviewApi {
    pub fieldwork: Fieldwork,
}

const MAX_REASON_CHARS: usize = 1000;

fn listing<'a>(campaign_id: &'a CampaignId, unit: Option<&'a UnitId>, page: &Page) -> Listing<'a> {
    Listing {
        campaign_id,
        unit,
        after: page.after(),
        limit: page.size,
    }
}

fn optional_unit(v: &mut Violations, value: &str) -> Option<Option<UnitId>> {
    if value.is_empty() {
        Some(None)
    } else {
        v.check("unit_id", UnitId::parse(value)).map(Some)
    }
}

fn review_state(value: i32) -> Result<ReviewState, String> {
    match pb::ReviewState::try_from(value) {
        // Unspecified lists what awaits review.
        Ok(pb::ReviewState::Unspecified | pb::ReviewState::Flagged) => Ok(ReviewState::Flagged),
        Ok(pb::ReviewState::Received) => Ok(ReviewState::Received),
        Ok(pb::ReviewState::Approved) => Ok(ReviewState::Approved),
        Ok(pb::ReviewState::Rejected) => Ok(ReviewState::Rejected),
        Err(_) => Err("is not a review state".into()),
    }
}

fn quality_flag(value: i32) -> Result<Option<Flag>, String> {
    match pb::QualityFlag::try_from(value) {
        Ok(pb::QualityFlag::Unspecified) => Ok(None),
        Ok(pb::QualityFlag::TooFast) => Ok(Some(Flag::TooFast)),
        Ok(pb::QualityFlag::OutsideUnitArea) => Ok(Some(Flag::OutsideUnitArea)),
        Ok(pb::QualityFlag::PoorGpsAccuracy) => Ok(Some(Flag::PoorGpsAccuracy)),
        Ok(pb::QualityFlag::DuplicateHousehold) => Ok(Some(Flag::DuplicateHousehold)),
        Ok(pb::QualityFlag::LateUpload) => Ok(Some(Flag::LateUpload)),
        Err(_) => Err("is not a quality flag".into()),
    }
}

fn grievance_status(value: i32) -> Result<Option<GrievanceStatus>, String> {
    match pb::GrievanceStatus::try_from(value) {
        Ok(pb::GrievanceStatus::Unspecified) => Ok(None),
        Ok(pb::GrievanceStatus::Open) => Ok(Some(GrievanceStatus::Open)),
        Ok(pb::GrievanceStatus::InProgress) => Ok(Some(GrievanceStatus::InProgress)),
        Ok(pb::GrievanceStatus::Resolved) => Ok(Some(GrievanceStatus::Resolved)),
        Err(_) => Err("is not a grievance status".into()),
    }
}

fn grievance_status_to_proto(s: GrievanceStatus) -> pb::GrievanceStatus {
    match s {
        GrievanceStatus::Open => pb::GrievanceStatus::Open,
        GrievanceStatus::InProgress => pb::GrievanceStatus::InProgress,
        GrievanceStatus::Resolved => pb::GrievanceStatus::Resolved,
    }
}

fn decision_to_proto(d: Decision) -> pb::ReviewDecision {
    match d {
        Decision::Approve => pb::ReviewDecision::Approve,
        Decision::Reject => pb::ReviewDecision::Reject,
    }
}

fn summary_to_proto(s: &SubmissionSummary) -> pb::SubmissionSummary {
    pb::SubmissionSummary {
        submission_id: s.submission_id.to_string(),
        campaign_id: s.campaign_id.to_string(),
        unit_id: s.unit_id.to_string(),
        channel: match s.channel {
            Channel::Visit => pb::Channel::Visit,
            Channel::Phone => pb::Channel::Phone,
        }
        .into(),
        review_state: review_state_to_proto(s.state).into(),
        quality_flags: s.flags.iter().map(|f| flag_to_proto(*f).into()).collect(),
        start_time: Some(timestamp_to_proto(s.started_at)),
        end_time: Some(timestamp_to_proto(s.ended_at)),
        accept_time: Some(timestamp_to_proto(s.accepted_at)),
        submitted_by: s.submitted_by.clone(),
    }
}

fn action_to_proto(a: &ReviewAction) -> pb::ReviewAction {
    pb::ReviewAction {
        campaign_id: a.campaign_id.to_string(),
        submission_id: a.submission_id.to_string(),
        reviewer: a.reviewer.clone(),
        decision: decision_to_proto(a.decision).into(),
        from_state: review_state_to_proto(a.from).into(),
        to_state: review_state_to_proto(a.to).into(),
        reason: a.reason.clone(),
        action_time: Some(timestamp_to_proto(a.at)),
    }
}

fn grievance_to_proto(g: &Grievance) -> pb::Grievance {
    pb::Grievance {
        id: g.id.clone(),
        campaign_id: g.campaign_id.to_string(),
        unit_id: g.unit_id.to_string(),
        submission_id: g.submission_id.to_string(),
        category: g.category.clone(),
        description: g.description.clone(),
        urgency: match g.urgency {
            Urgency::Low => pb::Urgency::Low,
            Urgency::Medium => pb::Urgency::Medium,
            Urgency::High => pb::Urgency::High,
        }
        .into(),
        status: grievance_status_to_proto(g.status).into(),
        raise_time: Some(timestamp_to_proto(g.raised_at)),
        resolve_time: g.resolved_at.map(timestamp_to_proto),
        update_time: Some(timestamp_to_proto(g.updated_at)),
    }
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
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit = optional_unit(&mut v, &r.unit_id);
        let state = v.check("review_state", review_state(r.review_state));
        let flag = v.check("quality_flag", quality_flag(r.quality_flag));
        let (campaign, unit, state, flag) =
            v.into_result(|| Some((campaign?, unit?, state?, flag?)))?;
        let filter = format!("{campaign}/{unit:?}/{state:?}/{flag:?}");
        let page = Page::parse(r.page_size, &r.page_token, &filter)?;
        let rows = self
            .fieldwork
            .list_submissions(
                &caller,
                &listing(&campaign, unit.as_ref(), &page),
                state,
                flag,
            )
            .await?;
        Ok(Response::new(pb::ListSubmissionsResponse {
            submissions: rows.rows.iter().map(summary_to_proto).collect(),
            next_page_token: page.token_after(rows.last),
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
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let id = v.check("submission_id", parse_submission_id(&r.submission_id));
        let decision = match pb::ReviewDecision::try_from(r.decision) {
            Ok(pb::ReviewDecision::Approve) => Some(Decision::Approve),
            Ok(pb::ReviewDecision::Reject) => Some(Decision::Reject),
            _ => {
                v.add("decision", "must be APPROVE or REJECT");
                None
            }
        };
        let reason = r.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            v.add(
                "reason",
                format!("must be 1 to {MAX_REASON_CHARS} characters"),
            );
        }
        let (campaign, id, decision) = v.into_result(|| Some((campaign?, id?, decision?)))?;
        let summary = self
            .fieldwork
            .review(&caller, &campaign, id, decision, reason)
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
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let submission = if r.submission_id.is_empty() {
            Some(None)
        } else {
            v.check("submission_id", parse_submission_id(&r.submission_id))
                .map(Some)
        };
        let (campaign, submission) = v.into_result(|| campaign.zip(submission))?;
        let page = Page::parse(
            r.page_size,
            &r.page_token,
            &format!("{campaign}/{submission:?}"),
        )?;
        let rows = self
            .fieldwork
            .review_actions(&caller, &listing(&campaign, None, &page), submission)
            .await?;
        Ok(Response::new(pb::ListReviewActionsResponse {
            actions: rows.rows.iter().map(action_to_proto).collect(),
            next_page_token: page.token_after(rows.last),
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed arguments; PERMISSION_DENIED; NOT_FOUND.
    async fn list_grievances(
        &self,
        request: Request<pb::ListGrievancesRequest>,
    ) -> Result<Response<pb::ListGrievancesResponse>, Status> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit = optional_unit(&mut v, &r.unit_id);
        let status = v.check("status", grievance_status(r.status));
        let (campaign, unit, status) = v.into_result(|| Some((campaign?, unit?, status?)))?;
        let page = Page::parse(
            r.page_size,
            &r.page_token,
            &format!("{campaign}/{unit:?}/{status:?}"),
        )?;
        let rows = self
            .fieldwork
            .grievances(&caller, &listing(&campaign, unit.as_ref(), &page), status)
            .await?;
        Ok(Response::new(pb::ListGrievancesResponse {
            grievances: rows.rows.iter().map(grievance_to_proto).collect(),
            next_page_token: page.token_after(rows.last),
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
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        if r.grievance_id.is_empty() || r.grievance_id.len() > 100 {
            v.add("grievance_id", "must be a grievance id");
        }
        let status = match grievance_status(r.status) {
            Ok(Some(s)) => Some(s),
            _ => {
                v.add("status", "must be OPEN, IN_PROGRESS or RESOLVED");
                None
            }
        };
        let (campaign, status) = v.into_result(|| campaign.zip(status))?;
        let grievance = self
            .fieldwork
            .update_grievance(&caller, &campaign, &r.grievance_id, status)
            .await?;
        Ok(Response::new(grievance_to_proto(&grievance)))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids; PERMISSION_DENIED; NOT_FOUND.
    async fn get_grievance_summary(
        &self,
        request: Request<pb::GetGrievanceSummaryRequest>,
    ) -> Result<Response<pb::GrievanceSummary>, Status> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit = v.check("unit_id", UnitId::parse(&r.unit_id));
        let (campaign, unit) = v.into_result(|| campaign.zip(unit))?;
        let summary = self
            .fieldwork
            .grievance_summary(&caller, &campaign, &unit)
            .await?;
        let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        Ok(Response::new(pb::GrievanceSummary {
            campaign_id: campaign.to_string(),
            unit_id: unit.to_string(),
            raised: n(summary.raised),
            open: n(summary.open),
            in_progress: n(summary.in_progress),
            resolved: n(summary.resolved),
            median_days_to_resolve: summary.median_days_to_resolve,
        }))
    }
}
