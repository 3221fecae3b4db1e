//! Export requests and the batches streamed back.

use super::*;
use crate::exports::{
    DEFAULT_BATCH, ExportRequest, ExportedAttempt, ExportedSubmission, Placement, UnitLabel,
};

fn optional_time(
    field: &str,
    value: Option<&PbTimestamp>,
    v: &mut Violations,
) -> Option<Timestamp> {
    let t = value?;
    v.check(field, Timestamp::from_parts(t.seconds, t.nanos))
}

fn batch_size(value: i32, v: &mut Violations) -> usize {
    match usize::try_from(value) {
        Ok(0) => DEFAULT_BATCH,
        Ok(n) => n,
        Err(_) => {
            v.add("batch_size", "must not be negative");
            DEFAULT_BATCH
        }
    }
}

fn export_state(value: i32) -> Result<ReviewState, String> {
    match pb::ReviewState::try_from(value) {
        Ok(pb::ReviewState::Received) => Ok(ReviewState::Received),
        Ok(pb::ReviewState::Flagged) => Ok(ReviewState::Flagged),
        Ok(pb::ReviewState::Approved) => Ok(ReviewState::Approved),
        Ok(pb::ReviewState::Rejected) => Ok(ReviewState::Rejected),
        Ok(pb::ReviewState::Unspecified) | Err(_) => {
            Err("must be RECEIVED, FLAGGED, APPROVED or REJECTED".into())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn export_request(
    v: &mut Violations,
    campaign_id: &str,
    unit_id: &str,
    states: Option<Vec<ReviewState>>,
    start: Option<&PbTimestamp>,
    end: Option<&PbTimestamp>,
    batch: i32,
) -> Option<ExportRequest> {
    let campaign_id = v.check("campaign_id", CampaignId::parse(campaign_id));
    let unit = v.check("unit_id", optional_id(unit_id, UnitId::parse));
    let from = optional_time("start_time", start, v);
    let until = optional_time("end_time", end, v);
    if let (Some(from), Some(until)) = (from, until)
        && until <= from
    {
        v.add("end_time", "must be after start_time");
    }
    let batch = batch_size(batch, v);
    Some(ExportRequest {
        campaign_id: campaign_id?,
        unit: unit?,
        states,
        from,
        until,
        batch,
    })
}

/// # Errors
/// INVALID_ARGUMENT naming every malformed field.
pub fn export_submissions_from_proto(r: &pb::ExportSubmissionsRequest) -> Result<ExportRequest> {
    let mut v = Violations::new();
    let states: Vec<ReviewState> = r
        .review_states
        .iter()
        .enumerate()
        .filter_map(|(i, s)| v.check(format!("review_states[{i}]"), export_state(*s)))
        .collect();
    let states = (!r.review_states.is_empty()).then_some(states);
    let request = export_request(
        &mut v,
        &r.campaign_id,
        &r.unit_id,
        states,
        r.start_time.as_ref(),
        r.end_time.as_ref(),
        r.batch_size,
    );
    v.into_result(|| request)
}

/// # Errors
/// INVALID_ARGUMENT naming every malformed field.
pub fn export_attempts_from_proto(r: &pb::ExportCallAttemptsRequest) -> Result<ExportRequest> {
    let mut v = Violations::new();
    let request = export_request(
        &mut v,
        &r.campaign_id,
        &r.unit_id,
        None,
        r.start_time.as_ref(),
        r.end_time.as_ref(),
        r.batch_size,
    );
    v.into_result(|| request)
}

fn label_to_proto(label: &UnitLabel) -> pb::UnitLabel {
    pb::UnitLabel {
        id: label.id.to_string(),
        name: label.name.clone(),
        kind: unit_kind_to_proto(label.kind).into(),
    }
}

fn placement_to_proto(p: &Placement) -> (Option<pb::UnitLabel>, Vec<pb::UnitLabel>) {
    (
        Some(label_to_proto(&p.unit)),
        p.ancestors.iter().map(label_to_proto).collect(),
    )
}

pub fn exported_submission_to_proto(s: &ExportedSubmission) -> pb::ExportedSubmission {
    let row = &s.row;
    let (unit, ancestors) = placement_to_proto(&s.placement);
    pb::ExportedSubmission {
        submission_id: row.submission_id.to_string(),
        unit,
        ancestors,
        channel: channel_to_proto(row.channel).into(),
        carrier: carrier_to_proto(row.carrier).into(),
        review_state: review_state_to_proto(row.state).into(),
        quality_flags: row.flags.iter().map(|f| flag_to_proto(*f).into()).collect(),
        start_time: Some(timestamp_to_proto(row.started_at)),
        end_time: Some(timestamp_to_proto(row.ended_at)),
        accept_time: Some(timestamp_to_proto(row.accepted_at)),
        location: row.location.map(|l| pb::GeoLocation {
            latitude: l.latitude,
            longitude: l.longitude,
            accuracy_meters: l.accuracy_meters,
        }),
        submitted_by: row.submitted_by.clone(),
        respondent_hash: row.respondent_hash.map(hex::encode).unwrap_or_default(),
        answers: s
            .answers
            .iter()
            .map(|a| {
                let (kind, points) = match a.value {
                    OptionValue::Points(p) => (pb::OptionKind::Scored, u32::from(p)),
                    OptionValue::DontKnow => (pb::OptionKind::DontKnow, 0),
                    OptionValue::Refused => (pb::OptionKind::Refused, 0),
                };
                pb::ExportedAnswer {
                    indicator_code: a.indicator.clone(),
                    option_code: a.option.clone(),
                    option_kind: kind.into(),
                    points,
                }
            })
            .collect(),
    }
}

pub fn exported_attempt_to_proto(a: &ExportedAttempt) -> pb::ExportedCallAttempt {
    let row = &a.row;
    let (unit, ancestors) = placement_to_proto(&a.placement);
    pb::ExportedCallAttempt {
        attempt_id: row.attempt_id.to_string(),
        unit,
        ancestors,
        carrier: carrier_to_proto(Some(row.carrier)).into(),
        disposition: disposition_to_proto(row.disposition),
        attempt_time: Some(timestamp_to_proto(row.attempted_at)),
        accept_time: Some(timestamp_to_proto(row.accepted_at)),
        submitted_by: row.submitted_by.clone(),
        respondent_hash: hex::encode(row.respondent_hash),
    }
}
