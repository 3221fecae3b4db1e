//! The boundary: wire messages become validated domain values here (naming every offending
//! field), and domain values become wire messages.

use std::collections::{BTreeMap, HashSet};

use prost_types::Timestamp as PbTimestamp;

use crate::domain::campaign::{Campaign, DEFAULT_MIN_SAMPLE};
use crate::domain::grievance::{NewGrievance, Urgency};
use crate::domain::ids::{CampaignId, Code, QuestionnaireId, UnitId, parse_name};
use crate::domain::intake::SubmissionDraft;
use crate::domain::phone::{PhoneHasher, PhoneNumber};
use crate::domain::quality::{Area, Flag, QualityRules};
use crate::domain::questionnaire::{
    AnswerOption, Indicator, OptionValue, Questionnaire, parse_points, parse_weight,
};
use crate::domain::review::ReviewState;
use crate::domain::scoring::{Breakdown, IndicatorScore, IndicatorStanding, RankingRow, UnitScore};
use crate::domain::submission::{
    Acknowledgement, Carrier, GeoLocation, Source, parse_accuracy, parse_latitude, parse_longitude,
    parse_submission_id,
};
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind};
use crate::domain::weighting::{Margin, Method, WeightedEstimate, Weighting};
use crate::error::{Result, Violations};
use crate::proto::v1 as pb;

/// Most answers one submission may carry.
const MAX_ANSWERS: usize = 500;
const MAX_HOUSEHOLD_REF_CHARS: usize = 128;
const MAX_ATTRIBUTES: usize = 16;
const MAX_GRIEVANCES: usize = 20;
const MAX_GRIEVANCE_CHARS: usize = 2000;
const MAX_ATTRIBUTE_VALUE_CHARS: usize = 64;
/// How far a margin's shares may sum from 1 (rounding in published figures).
const SHARE_SUM_TOLERANCE: f64 = 1e-6;

pub fn timestamp_to_proto(t: Timestamp) -> PbTimestamp {
    PbTimestamp {
        seconds: t.seconds(),
        nanos: t.subsec_nanos(),
    }
}

fn timestamp(value: Option<&PbTimestamp>) -> Result<Timestamp, String> {
    let t = value.ok_or("is required")?;
    Timestamp::from_parts(t.seconds, t.nanos)
}

/// An optional reference: empty means none.
fn optional_id<T>(
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

pub fn unit_kind(value: i32) -> Result<UnitKind, String> {
    match pb::UnitKind::try_from(value) {
        Ok(pb::UnitKind::City) => Ok(UnitKind::City),
        Ok(pb::UnitKind::Township) => Ok(UnitKind::Township),
        Ok(pb::UnitKind::Subdistrict) => Ok(UnitKind::Subdistrict),
        Ok(pb::UnitKind::Village) => Ok(UnitKind::Village),
        Ok(pb::UnitKind::Community) => Ok(UnitKind::Community),
        Ok(pb::UnitKind::Department) => Ok(UnitKind::Department),
        Ok(pb::UnitKind::Unspecified) | Err(_) => {
            Err("must be a unit kind other than UNSPECIFIED".into())
        }
    }
}

fn unit_kind_to_proto(kind: UnitKind) -> pb::UnitKind {
    match kind {
        UnitKind::City => pb::UnitKind::City,
        UnitKind::Township => pb::UnitKind::Township,
        UnitKind::Subdistrict => pb::UnitKind::Subdistrict,
        UnitKind::Village => pb::UnitKind::Village,
        UnitKind::Community => pb::UnitKind::Community,
        UnitKind::Department => pb::UnitKind::Department,
    }
}

pub fn unit_from_proto(unit: Option<pb::Unit>, now: Timestamp) -> Result<Unit> {
    let unit = unit.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("unit.id", UnitId::parse(&unit.id));
    let name = v.check("unit.name", parse_name(&unit.name));
    let kind = v.check("unit.kind", unit_kind(unit.kind));
    let parent_id = v.check(
        "unit.parent_id",
        optional_id(&unit.parent_id, UnitId::parse),
    );
    let area = unit.area.map(|a| {
        let latitude = v.check("unit.area.latitude", parse_latitude(a.latitude));
        let longitude = v.check("unit.area.longitude", parse_longitude(a.longitude));
        if !(a.radius_meters.is_finite() && a.radius_meters > 0.0) {
            v.add(
                "unit.area.radius_meters",
                "must be a finite number of metres above 0",
            );
        }
        Some(Area {
            latitude: latitude?,
            longitude: longitude?,
            radius_meters: a.radius_meters,
        })
    });
    v.into_result(|| {
        Some(Unit {
            id: id?,
            name: name?,
            kind: kind?,
            parent_id: parent_id?,
            area: match area {
                Some(parsed) => Some(parsed?),
                None => None,
            },
            created_at: now,
        })
    })
}

pub fn unit_to_proto(unit: &Unit) -> pb::Unit {
    pb::Unit {
        area: unit.area.map(|a| pb::GeoArea {
            latitude: a.latitude,
            longitude: a.longitude,
            radius_meters: a.radius_meters,
        }),
        id: unit.id.to_string(),
        name: unit.name.clone(),
        kind: unit_kind_to_proto(unit.kind).into(),
        parent_id: unit
            .parent_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        create_time: Some(timestamp_to_proto(unit.created_at)),
    }
}

fn option_from_proto(
    v: &mut Violations,
    field: &str,
    option: &pb::AnswerOption,
) -> Option<AnswerOption> {
    let code = v.check(format!("{field}.code"), Code::parse(&option.code));
    let label = v.check(format!("{field}.label"), parse_name(&option.label));
    let value = match pb::OptionKind::try_from(option.kind) {
        Ok(pb::OptionKind::Scored) => v
            .check(format!("{field}.points"), parse_points(option.points))
            .map(OptionValue::Points),
        Ok(kind @ (pb::OptionKind::DontKnow | pb::OptionKind::Refused)) => {
            if option.points != 0 {
                v.add(
                    format!("{field}.points"),
                    "must be 0 for options that count in no score",
                );
            }
            Some(if kind == pb::OptionKind::DontKnow {
                OptionValue::DontKnow
            } else {
                OptionValue::Refused
            })
        }
        Ok(pb::OptionKind::Unspecified) | Err(_) => {
            v.add(
                format!("{field}.kind"),
                "must be SCORED, DONT_KNOW or REFUSED",
            );
            None
        }
    };
    Some(AnswerOption {
        code: code?,
        label: label?,
        value: value?,
    })
}

fn indicator_from_proto(
    v: &mut Violations,
    field: &str,
    indicator: &pb::Indicator,
) -> Option<Indicator> {
    let code = v.check(format!("{field}.code"), Code::parse(&indicator.code));
    let text = v.check(format!("{field}.text"), parse_name(&indicator.text));
    let weight = v.check(format!("{field}.weight"), parse_weight(indicator.weight));
    if indicator.options.is_empty() {
        v.add(format!("{field}.options"), "must list at least one option");
    }
    let mut codes = HashSet::new();
    let mut options = Vec::with_capacity(indicator.options.len());
    for (j, option) in indicator.options.iter().enumerate() {
        let option_field = format!("{field}.options[{j}]");
        if !codes.insert(option.code.as_str()) {
            v.add(
                format!("{option_field}.code"),
                "duplicates another option's code",
            );
        }
        options.extend(option_from_proto(v, &option_field, option));
    }
    if !indicator.options.is_empty()
        && !options
            .iter()
            .any(|o| matches!(o.value, OptionValue::Points(_)))
    {
        v.add(
            format!("{field}.options"),
            "must include at least one SCORED option",
        );
    }
    Some(Indicator {
        code: code?,
        text: text?,
        weight: weight?,
        options,
    })
}

pub fn questionnaire_from_proto(
    q: Option<pb::Questionnaire>,
    now: Timestamp,
) -> Result<Questionnaire> {
    let q = q.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("questionnaire.id", QuestionnaireId::parse(&q.id));
    let name = v.check("questionnaire.name", parse_name(&q.name));
    if q.indicators.is_empty() {
        v.add(
            "questionnaire.indicators",
            "must list at least one indicator",
        );
    }
    let mut codes = HashSet::new();
    let mut indicators = Vec::with_capacity(q.indicators.len());
    for (i, indicator) in q.indicators.iter().enumerate() {
        let field = format!("questionnaire.indicators[{i}]");
        if !codes.insert(indicator.code.as_str()) {
            v.add(
                format!("{field}.code"),
                "duplicates another indicator's code",
            );
        }
        indicators.extend(indicator_from_proto(&mut v, &field, indicator));
    }
    v.into_result(|| {
        Some(Questionnaire {
            id: id?,
            name: name?,
            indicators,
            created_at: now,
        })
    })
}

pub fn questionnaire_to_proto(q: &Questionnaire) -> pb::Questionnaire {
    pb::Questionnaire {
        id: q.id.to_string(),
        name: q.name.clone(),
        indicators: q
            .indicators
            .iter()
            .map(|i| pb::Indicator {
                code: i.code.to_string(),
                text: i.text.clone(),
                weight: i.weight,
                options: i
                    .options
                    .iter()
                    .map(|o| {
                        let (kind, points) = match o.value {
                            OptionValue::Points(p) => (pb::OptionKind::Scored, u32::from(p)),
                            OptionValue::DontKnow => (pb::OptionKind::DontKnow, 0),
                            OptionValue::Refused => (pb::OptionKind::Refused, 0),
                        };
                        pb::AnswerOption {
                            code: o.code.to_string(),
                            label: o.label.clone(),
                            kind: kind.into(),
                            points,
                        }
                    })
                    .collect(),
            })
            .collect(),
        create_time: Some(timestamp_to_proto(q.created_at)),
    }
}

pub fn campaign_from_proto(c: Option<pb::Campaign>, now: Timestamp) -> Result<Campaign> {
    let c = c.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("campaign.id", CampaignId::parse(&c.id));
    let name = v.check("campaign.name", parse_name(&c.name));
    let questionnaire_id = v.check(
        "campaign.questionnaire_id",
        QuestionnaireId::parse(&c.questionnaire_id),
    );
    let scope_unit_id = v.check("campaign.scope_unit_id", UnitId::parse(&c.scope_unit_id));
    let opens_at = v.check("campaign.open_time", timestamp(c.open_time.as_ref()));
    let closes_at = v.check("campaign.close_time", timestamp(c.close_time.as_ref()));
    if let (Some(open), Some(close)) = (opens_at, closes_at)
        && close <= open
    {
        v.add("campaign.close_time", "must be after open_time");
    }
    let compared = v.check(
        "campaign.compared_campaign_id",
        optional_id(&c.compared_campaign_id, CampaignId::parse),
    );
    if c.compared_campaign_id == c.id && !c.id.is_empty() {
        v.add(
            "campaign.compared_campaign_id",
            "must name another campaign",
        );
    }
    let weighting = c
        .weighting
        .as_ref()
        .map(|w| weighting_from_proto(&mut v, w))
        .unwrap_or(Some(None));
    let quality_rules = quality_rules_from_proto(&mut v, c.quality_rules.as_ref());
    if let Some(e) = c.eligibility_rate
        && !(0.0..=1.0).contains(&e)
    {
        v.add("campaign.eligibility_rate", "must be between 0 and 1");
    }
    let min_sample = if c.min_sample == 0 {
        DEFAULT_MIN_SAMPLE
    } else {
        c.min_sample
    };
    v.into_result(|| {
        Some(Campaign {
            id: id?,
            name: name?,
            questionnaire_id: questionnaire_id?,
            scope_unit_id: scope_unit_id?,
            opens_at: opens_at?,
            closes_at: closes_at?,
            compared_campaign_id: compared?,
            min_sample,
            weighting: weighting?,
            quality_rules,
            eligibility_rate: c.eligibility_rate,
            created_at: now,
        })
    })
}

pub fn campaign_to_proto(c: &Campaign) -> pb::Campaign {
    pb::Campaign {
        id: c.id.to_string(),
        name: c.name.clone(),
        questionnaire_id: c.questionnaire_id.to_string(),
        scope_unit_id: c.scope_unit_id.to_string(),
        open_time: Some(timestamp_to_proto(c.opens_at)),
        close_time: Some(timestamp_to_proto(c.closes_at)),
        compared_campaign_id: c
            .compared_campaign_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        min_sample: c.min_sample,
        create_time: Some(timestamp_to_proto(c.created_at)),
        weighting: c.weighting.as_ref().map(weighting_to_proto),
        quality_rules: Some(pb::QualityRules {
            min_seconds_per_answer: c.quality_rules.min_seconds_per_answer,
            max_gps_accuracy_meters: c.quality_rules.max_gps_accuracy_meters,
            max_upload_delay_hours: c.quality_rules.max_upload_delay_hours,
        }),
        eligibility_rate: c.eligibility_rate,
    }
}

/// Zero fields take the defaults.
fn quality_rules_from_proto(v: &mut Violations, rules: Option<&pb::QualityRules>) -> QualityRules {
    let defaults = QualityRules::default();
    let Some(r) = rules else { return defaults };
    if !r.max_gps_accuracy_meters.is_finite() || r.max_gps_accuracy_meters < 0.0 {
        v.add(
            "campaign.quality_rules.max_gps_accuracy_meters",
            "must be a finite number of metres, at least 0",
        );
    }
    let or_default = |value: u32, default: u32| if value == 0 { default } else { value };
    QualityRules {
        min_seconds_per_answer: or_default(
            r.min_seconds_per_answer,
            defaults.min_seconds_per_answer,
        ),
        max_gps_accuracy_meters: if r.max_gps_accuracy_meters > 0.0 {
            r.max_gps_accuracy_meters
        } else {
            defaults.max_gps_accuracy_meters
        },
        max_upload_delay_hours: or_default(
            r.max_upload_delay_hours,
            defaults.max_upload_delay_hours,
        ),
    }
}

/// Level names allowed for the built-in dimensions; any for respondent attributes.
fn builtin_levels(dimension: &str) -> Option<Vec<&'static str>> {
    match dimension {
        "carrier" => Some(Carrier::ALL.iter().map(|c| c.name()).collect()),
        "channel" => Some(vec!["CHANNEL_VISIT", "CHANNEL_PHONE"]),
        _ => None,
    }
}

fn weighting_from_proto(v: &mut Violations, w: &pb::Weighting) -> Option<Option<Weighting>> {
    let field = "campaign.weighting";
    let method = match pb::WeightingMethod::try_from(w.method) {
        Ok(pb::WeightingMethod::PostStratification) => Some(Method::PostStratification),
        Ok(pb::WeightingMethod::Raking) => Some(Method::Raking),
        _ => {
            v.add(
                format!("{field}.method"),
                "must be POST_STRATIFICATION or RAKING",
            );
            None
        }
    };
    if w.margins.is_empty() {
        v.add(format!("{field}.margins"), "must list at least one margin");
    }
    if method == Some(Method::PostStratification) && w.margins.len() > 1 {
        v.add(
            format!("{field}.margins"),
            "post-stratification takes one margin; use RAKING for several",
        );
    }
    let mut dimensions = HashSet::new();
    let mut margins = Vec::with_capacity(w.margins.len());
    for (i, m) in w.margins.iter().enumerate() {
        let mfield = format!("{field}.margins[{i}]");
        let dimension = v.check(format!("{mfield}.dimension"), Code::parse(&m.dimension));
        if !dimensions.insert(m.dimension.as_str()) {
            v.add(
                format!("{mfield}.dimension"),
                "duplicates another margin's dimension",
            );
        }
        let allowed = builtin_levels(&m.dimension);
        let mut shares = BTreeMap::new();
        for (j, level) in m.levels.iter().enumerate() {
            let lfield = format!("{mfield}.levels[{j}]");
            if level.value.trim().is_empty()
                || level.value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS
            {
                v.add(
                    format!("{lfield}.value"),
                    format!("must be 1 to {MAX_ATTRIBUTE_VALUE_CHARS} characters"),
                );
            } else if allowed
                .as_ref()
                .is_some_and(|a| !a.contains(&level.value.as_str()))
            {
                v.add(
                    format!("{lfield}.value"),
                    format!(
                        "must be one of {}",
                        allowed.as_deref().unwrap_or_default().join(", ")
                    ),
                );
            }
            if !(level.share.is_finite() && level.share > 0.0) {
                v.add(
                    format!("{lfield}.share"),
                    "must be a finite number greater than 0",
                );
            }
            if shares.insert(level.value.clone(), level.share).is_some() {
                v.add(format!("{lfield}.value"), "duplicates another level");
            }
        }
        let total: f64 = m.levels.iter().map(|l| l.share).sum();
        if m.levels.is_empty() || (total - 1.0).abs() > SHARE_SUM_TOLERANCE {
            v.add(format!("{mfield}.levels"), "shares must sum to 1");
        }
        if let Some(dimension) = dimension {
            margins.push(Margin {
                dimension: dimension.to_string(),
                shares,
            });
        }
    }
    Some(Some(Weighting {
        method: method?,
        margins,
    }))
}

fn weighting_to_proto(w: &Weighting) -> pb::Weighting {
    pb::Weighting {
        method: match w.method {
            Method::PostStratification => pb::WeightingMethod::PostStratification,
            Method::Raking => pb::WeightingMethod::Raking,
        }
        .into(),
        margins: w
            .margins
            .iter()
            .map(|m| pb::Margin {
                dimension: m.dimension.clone(),
                levels: m
                    .shares
                    .iter()
                    .map(|(value, share)| pb::MarginLevel {
                        value: value.clone(),
                        share: *share,
                    })
                    .collect(),
            })
            .collect(),
    }
}

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

pub fn carrier(value: i32) -> Result<Carrier, String> {
    match pb::Carrier::try_from(value) {
        Ok(pb::Carrier::ChinaMobile) => Ok(Carrier::ChinaMobile),
        Ok(pb::Carrier::ChinaTelecom) => Ok(Carrier::ChinaTelecom),
        Ok(pb::Carrier::ChinaUnicom) => Ok(Carrier::ChinaUnicom),
        Ok(pb::Carrier::ChinaBroadnet) => Ok(Carrier::ChinaBroadnet),
        Ok(pb::Carrier::Other) => Ok(Carrier::Other),
        Ok(pb::Carrier::Unspecified) | Err(_) => {
            Err("must be a carrier other than UNSPECIFIED".into())
        }
    }
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

fn weighted_to_proto(w: &WeightedEstimate) -> pb::WeightedEstimate {
    pb::WeightedEstimate {
        mean: w.mean,
        standard_error: w.standard_error,
        confidence_interval: w
            .confidence_interval
            .map(|(lower, upper)| pb::ConfidenceInterval { lower, upper }),
        effective_sample_size: w.effective_sample_size,
        design_effect: w.design_effect,
    }
}

fn indicator_score_to_proto(i: &IndicatorScore) -> pb::IndicatorScore {
    pb::IndicatorScore {
        indicator_code: i.code.to_string(),
        valid_count: i.moments.valid,
        excluded_count: i.moments.excluded,
        mean: i.mean,
        standard_error: i.standard_error,
        confidence_interval: i
            .confidence_interval
            .map(|(lower, upper)| pb::ConfidenceInterval { lower, upper }),
        weighted: i.weighted.as_ref().map(weighted_to_proto),
    }
}

fn carrier_to_proto(carrier: Option<Carrier>) -> pb::Carrier {
    match carrier {
        None => pb::Carrier::Unspecified,
        Some(Carrier::ChinaMobile) => pb::Carrier::ChinaMobile,
        Some(Carrier::ChinaTelecom) => pb::Carrier::ChinaTelecom,
        Some(Carrier::ChinaUnicom) => pb::Carrier::ChinaUnicom,
        Some(Carrier::ChinaBroadnet) => pb::Carrier::ChinaBroadnet,
        Some(Carrier::Other) => pb::Carrier::Other,
    }
}

fn breakdown_to_proto(b: &Breakdown) -> pb::ScoreBreakdown {
    pb::ScoreBreakdown {
        channel: match b.channel {
            crate::domain::submission::Channel::Visit => pb::Channel::Visit,
            crate::domain::submission::Channel::Phone => pb::Channel::Phone,
        }
        .into(),
        carrier: carrier_to_proto(b.carrier).into(),
        submission_count: b.submissions,
        composite_score: b.composite,
        indicators: b.indicators.iter().map(indicator_score_to_proto).collect(),
    }
}

pub fn unit_score_to_proto(campaign_id: &CampaignId, score: &UnitScore) -> pb::UnitScore {
    pb::UnitScore {
        campaign_id: campaign_id.to_string(),
        unit_id: score.unit_id.to_string(),
        unit_name: score.unit_name.clone(),
        submission_count: score.submissions,
        composite_score: score.composite,
        indicators: score
            .indicators
            .iter()
            .map(indicator_score_to_proto)
            .collect(),
        sufficient_sample: score.sufficient_sample,
        breakdowns: score.breakdowns.iter().map(breakdown_to_proto).collect(),
        weighted_composite_score: score.weighted_composite,
        weighted_submission_count: score.weighted_submissions,
        effective_sample_size: score.effective_sample_size,
    }
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub fn ranking_row_to_proto(row: &RankingRow) -> pb::RankingEntry {
    pb::RankingEntry {
        unit_id: row.score.unit_id.to_string(),
        unit_name: row.score.unit_name.clone(),
        submission_count: row.score.submissions,
        score: row.value,
        rank: row.rank.map(to_i32),
        previous_rank: row.previous_rank.map(to_i32),
        rank_change: row.rank_change.map(|c| c as i32),
        previous_score: row.previous_value,
        score_change: row.value_change,
        sufficient_sample: row.score.sufficient_sample,
    }
}

pub fn indicator_standing_to_proto(s: &IndicatorStanding) -> pb::IndicatorStanding {
    pb::IndicatorStanding {
        indicator_code: s.code.to_string(),
        indicator_text: s.text.clone(),
        score: s.value,
        rank: s.rank.map(to_i32),
        ranked_count: to_i32(s.ranked_count),
        peer_mean: s.peer_mean,
        gap: s.value.zip(s.peer_mean).map(|(v, m)| v - m),
    }
}
