//! Review of flagged submissions, its audit trail, and grievance follow-up.

use uuid::Uuid;

use super::*;
use crate::api::pagination::Page;
use crate::domain::grievance::{Grievance, GrievanceStatus, GrievanceSummary};
use crate::domain::review::{Decision, ReviewAction, SubmissionSummary};
use crate::fieldwork::Listing;

const MAX_REASON_CHARS: usize = 1000;
const MAX_GRIEVANCE_ID_BYTES: usize = 100;

/// A validated list request over part of a campaign: which part, what else it filters on, and
/// the page, whose token is bound to both.
pub struct CampaignListing<F> {
    pub campaign_id: CampaignId,
    /// This unit and its descendants; `None` for the campaign's whole scope.
    pub unit: Option<UnitId>,
    pub filter: F,
    pub page: Page,
}

impl<F> CampaignListing<F> {
    /// The part of the campaign to read, from where the page token left off.
    pub fn listing(&self) -> Listing<'_> {
        Listing {
            campaign_id: &self.campaign_id,
            unit: self.unit.as_ref(),
            after: self.page.after(),
            limit: self.page.size,
        }
    }
}

/// A reviewer's decision on one submission.
pub struct SubmissionReview {
    pub campaign_id: CampaignId,
    pub submission_id: Uuid,
    pub decision: Decision,
    /// Trimmed; 1 to `MAX_REASON_CHARS` characters.
    pub reason: String,
}

/// A grievance's new status.
pub struct GrievanceUpdate {
    pub campaign_id: CampaignId,
    pub grievance_id: String,
    pub status: GrievanceStatus,
}

/// An optional unit: empty means the campaign's whole scope.
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

/// Filters on review state (unspecified: what awaits review) and quality flag.
///
/// # Errors
/// INVALID_ARGUMENT naming every malformed field, or for a foreign page token.
pub fn submission_listing_from_proto(
    r: pb::ListSubmissionsRequest,
) -> Result<CampaignListing<(ReviewState, Option<Flag>)>> {
    let mut v = Violations::new();
    let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
    let unit = optional_unit(&mut v, &r.unit_id);
    let state = v.check("review_state", review_state(r.review_state));
    let flag = v.check("quality_flag", quality_flag(r.quality_flag));
    let (campaign, unit, state, flag) =
        v.into_result(|| Some((campaign?, unit?, state?, flag?)))?;
    let filter = format!("{campaign}/{unit:?}/{state:?}/{flag:?}");
    let page = Page::parse(r.page_size, &r.page_token, &filter)?;
    Ok(CampaignListing {
        campaign_id: campaign,
        unit,
        filter: (state, flag),
        page,
    })
}

/// The whole campaign's actions, or one submission's.
///
/// # Errors
/// INVALID_ARGUMENT naming every malformed field, or for a foreign page token.
pub fn review_action_listing_from_proto(
    r: pb::ListReviewActionsRequest,
) -> Result<CampaignListing<Option<Uuid>>> {
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
    Ok(CampaignListing {
        campaign_id: campaign,
        unit: None,
        filter: submission,
        page,
    })
}

/// Filters on grievance status (unspecified: any).
///
/// # Errors
/// INVALID_ARGUMENT naming every malformed field, or for a foreign page token.
pub fn grievance_listing_from_proto(
    r: pb::ListGrievancesRequest,
) -> Result<CampaignListing<Option<GrievanceStatus>>> {
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
    Ok(CampaignListing {
        campaign_id: campaign,
        unit,
        filter: status,
        page,
    })
}

/// # Errors
/// INVALID_ARGUMENT naming every malformed field, a missing decision or reason among them.
pub fn submission_review_from_proto(r: pb::ReviewSubmissionRequest) -> Result<SubmissionReview> {
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
    v.into_result(|| {
        Some(SubmissionReview {
            campaign_id: campaign?,
            submission_id: id?,
            decision: decision?,
            reason: reason.to_owned(),
        })
    })
}

/// # Errors
/// INVALID_ARGUMENT naming every malformed field, an unspecified status among them.
pub fn grievance_update_from_proto(r: pb::UpdateGrievanceRequest) -> Result<GrievanceUpdate> {
    let mut v = Violations::new();
    let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
    if r.grievance_id.is_empty() || r.grievance_id.len() > MAX_GRIEVANCE_ID_BYTES {
        v.add("grievance_id", "must be a grievance id");
    }
    let status = match grievance_status(r.status) {
        Ok(Some(s)) => Some(s),
        _ => {
            v.add("status", "must be OPEN, IN_PROGRESS or RESOLVED");
            None
        }
    };
    v.into_result(|| {
        Some(GrievanceUpdate {
            campaign_id: campaign?,
            grievance_id: r.grievance_id,
            status: status?,
        })
    })
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

pub fn summary_to_proto(s: &SubmissionSummary) -> pb::SubmissionSummary {
    pb::SubmissionSummary {
        submission_id: s.submission_id.to_string(),
        campaign_id: s.campaign_id.to_string(),
        unit_id: s.unit_id.to_string(),
        channel: channel_to_proto(s.channel).into(),
        review_state: review_state_to_proto(s.state).into(),
        quality_flags: s.flags.iter().map(|f| flag_to_proto(*f).into()).collect(),
        start_time: Some(timestamp_to_proto(s.started_at)),
        end_time: Some(timestamp_to_proto(s.ended_at)),
        accept_time: Some(timestamp_to_proto(s.accepted_at)),
        submitted_by: s.submitted_by.clone(),
    }
}

pub fn action_to_proto(a: &ReviewAction) -> pb::ReviewAction {
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

pub fn grievance_to_proto(g: &Grievance) -> pb::Grievance {
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

pub fn grievance_summary_to_proto(
    campaign_id: &CampaignId,
    unit_id: &UnitId,
    summary: &GrievanceSummary,
) -> pb::GrievanceSummary {
    let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    pb::GrievanceSummary {
        campaign_id: campaign_id.to_string(),
        unit_id: unit_id.to_string(),
        raised: n(summary.raised),
        open: n(summary.open),
        in_progress: n(summary.in_progress),
        resolved: n(summary.resolved),
        median_days_to_resolve: summary.median_days_to_resolve,
    }
}
