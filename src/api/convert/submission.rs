//! Visits, phone polls and their acknowledgements.

use super::*;

fn respondent_attributes(
    v: &mut Violations,
    attributes: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, String> {
    if attributes.len() > MAX_ATTRIBUTES {
        v.add(
            "respondent_attributes",
            format!("must hold at most {MAX_ATTRIBUTES} attributes"),
        );
    }
    let mut parsed = BTreeMap::new();
    for (name, value) in attributes {
        let field = format!("respondent_attributes[{name}]");
        if let Err(e) = Code::parse(name) {
            v.add(field, format!("attribute name {e}"));
        } else if value.trim().is_empty() || value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS {
            v.add(
                field,
                format!("must be 1 to {MAX_ATTRIBUTE_VALUE_CHARS} characters"),
            );
        } else {
            parsed.insert(name.clone(), value.clone());
        }
    }
    parsed
}

/// The fields every submission shares.
struct Common {
    id: Option<uuid::Uuid>,
    campaign_id: Option<CampaignId>,
    unit_id: Option<UnitId>,
    started_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
    answers: Vec<(Code, Code)>,
    attributes: BTreeMap<String, String>,
}

#[allow(clippy::too_many_arguments)]
fn common_fields(
    v: &mut Violations,
    submission_id: &str,
    campaign_id: &str,
    unit_id: &str,
    start: Option<&PbTimestamp>,
    end: Option<&PbTimestamp>,
    answers: &[pb::Answer],
    attributes: &std::collections::HashMap<String, String>,
) -> Common {
    let id = v.check("submission_id", parse_submission_id(submission_id));
    let campaign_id = v.check("campaign_id", CampaignId::parse(campaign_id));
    let unit_id = v.check("unit_id", UnitId::parse(unit_id));
    let started_at = v.check("start_time", timestamp(start));
    let ended_at = v.check("end_time", timestamp(end));
    if let (Some(s), Some(e)) = (started_at, ended_at)
        && e < s
    {
        v.add("end_time", "must not be before start_time");
    }
    if answers.is_empty() {
        v.add("answers", "must contain at least one answer");
    }
    if answers.len() > MAX_ANSWERS {
        v.add(
            "answers",
            format!("must contain at most {MAX_ANSWERS} answers"),
        );
    }
    let mut parsed = Vec::with_capacity(answers.len());
    for (i, a) in answers.iter().enumerate().take(MAX_ANSWERS) {
        let indicator = v.check(
            format!("answers[{i}].indicator_code"),
            Code::parse(&a.indicator_code),
        );
        let option = v.check(
            format!("answers[{i}].option_code"),
            Code::parse(&a.option_code),
        );
        if let (Some(indicator), Some(option)) = (indicator, option) {
            parsed.push((indicator, option));
        }
    }
    let attributes = respondent_attributes(v, attributes);
    Common {
        id,
        campaign_id,
        unit_id,
        started_at,
        ended_at,
        answers: parsed,
        attributes,
    }
}

fn draft(
    v: Violations,
    common: Common,
    source: Option<Source>,
    grievances: Vec<NewGrievance>,
) -> Result<SubmissionDraft> {
    v.into_result(|| {
        Some(SubmissionDraft {
            id: common.id?,
            campaign_id: common.campaign_id?,
            unit_id: common.unit_id?,
            source: source?,
            started_at: common.started_at?,
            ended_at: common.ended_at?,
            answers: common.answers,
            attributes: common.attributes,
            grievances,
        })
    })
}

fn grievances_from_proto(v: &mut Violations, reports: &[pb::GrievanceReport]) -> Vec<NewGrievance> {
    if reports.len() > MAX_GRIEVANCES {
        v.add(
            "grievances",
            format!("must hold at most {MAX_GRIEVANCES} grievances"),
        );
    }
    let mut parsed = Vec::with_capacity(reports.len());
    for (i, g) in reports.iter().enumerate().take(MAX_GRIEVANCES) {
        let category = v.check(
            format!("grievances[{i}].category"),
            Code::parse(&g.category),
        );
        let description = g.description.trim();
        if description.is_empty() || description.chars().count() > MAX_GRIEVANCE_CHARS {
            v.add(
                format!("grievances[{i}].description"),
                format!("must be 1 to {MAX_GRIEVANCE_CHARS} characters"),
            );
        }
        let urgency = match pb::Urgency::try_from(g.urgency) {
            Ok(pb::Urgency::Low) => Some(Urgency::Low),
            Ok(pb::Urgency::Medium) => Some(Urgency::Medium),
            Ok(pb::Urgency::High) => Some(Urgency::High),
            _ => {
                v.add(
                    format!("grievances[{i}].urgency"),
                    "must be LOW, MEDIUM or HIGH",
                );
                None
            }
        };
        if let (Some(category), Some(urgency)) = (category, urgency) {
            parsed.push(NewGrievance {
                category: category.to_string(),
                description: description.to_owned(),
                urgency,
            });
        }
    }
    parsed
}

pub fn visit_draft(r: pb::SubmitVisitRequest) -> Result<SubmissionDraft> {
    let mut v = Violations::new();
    let common = common_fields(
        &mut v,
        &r.submission_id,
        &r.campaign_id,
        &r.unit_id,
        r.start_time.as_ref(),
        r.end_time.as_ref(),
        &r.answers,
        &r.respondent_attributes,
    );
    let household = r.household_ref.trim();
    if household.is_empty() {
        v.add("household_ref", "must not be empty");
    } else if household.chars().count() > MAX_HOUSEHOLD_REF_CHARS {
        v.add(
            "household_ref",
            format!("must be at most {MAX_HOUSEHOLD_REF_CHARS} characters"),
        );
    }
    let location = r.location.map(|l| {
        let latitude = v.check("location.latitude", parse_latitude(l.latitude));
        let longitude = v.check("location.longitude", parse_longitude(l.longitude));
        let accuracy = v.check(
            "location.accuracy_meters",
            parse_accuracy(l.accuracy_meters),
        );
        Some(GeoLocation {
            latitude: latitude?,
            longitude: longitude?,
            accuracy_meters: accuracy?,
        })
    });
    let source = match location {
        Some(None) => None,
        location => Some(Source::Visit {
            household_ref: household.to_owned(),
            location: location.flatten(),
        }),
    };
    let grievances = grievances_from_proto(&mut v, &r.grievances);
    draft(v, common, source, grievances)
}

/// Validates a phone poll; the number is hashed here and goes no further.
pub fn phone_poll_draft(
    r: pb::SubmitPhonePollRequest,
    hasher: &PhoneHasher,
) -> Result<SubmissionDraft> {
    let mut v = Violations::new();
    let common = common_fields(
        &mut v,
        &r.submission_id,
        &r.campaign_id,
        &r.unit_id,
        r.start_time.as_ref(),
        r.end_time.as_ref(),
        &r.answers,
        &r.respondent_attributes,
    );
    let respondent = v
        .check("phone_number", PhoneNumber::parse(r.phone_number.trim()))
        .map(|number| hasher.hash(&number));
    let carrier = v.check("carrier", carrier(r.carrier));
    let source = respondent
        .zip(carrier)
        .map(|(respondent, carrier)| Source::Phone {
            respondent,
            carrier,
        });
    draft(v, common, source, Vec::new())
}

pub fn acknowledgement_to_proto(ack: Acknowledgement) -> pb::Acknowledgement {
    pb::Acknowledgement {
        submission_id: ack.submission_id.to_string(),
        accept_time: Some(timestamp_to_proto(ack.accepted_at)),
        review_state: review_state_to_proto(ack.review_state).into(),
        quality_flags: ack.flags.iter().map(|f| flag_to_proto(*f).into()).collect(),
    }
}

pub fn review_state_to_proto(state: ReviewState) -> pb::ReviewState {
    match state {
        ReviewState::Received => pb::ReviewState::Received,
        ReviewState::Flagged => pb::ReviewState::Flagged,
        ReviewState::Approved => pb::ReviewState::Approved,
        ReviewState::Rejected => pb::ReviewState::Rejected,
    }
}

pub fn flag_to_proto(flag: Flag) -> pb::QualityFlag {
    match flag {
        Flag::TooFast => pb::QualityFlag::TooFast,
        Flag::OutsideUnitArea => pb::QualityFlag::OutsideUnitArea,
        Flag::PoorGpsAccuracy => pb::QualityFlag::PoorGpsAccuracy,
        Flag::DuplicateHousehold => pb::QualityFlag::DuplicateHousehold,
        Flag::LateUpload => pb::QualityFlag::LateUpload,
    }
}
