//! The standard catalog (units, questionnaire, campaign) and valid requests to build on: each
//! test changes only what it is about.

use canvass::proto::v1 as pb;

/// A city with two townships, each with two villages, and a department, parents first:
/// (id, name, kind, parent).
///
/// ```text
/// city (市)
/// ├── jinshi (金石镇)      ── jinshi-v1, jinshi-v2
/// ├── dongshan (东山办事处) ── dongshan-c1, dongshan-c2 (communities)
/// └── xinfang (市信访局, department)
/// ```
pub const SEEDED_UNITS: [(&str, &str, pb::UnitKind, Option<&str>); 8] = [
    ("city", "示范市", pb::UnitKind::City, None),
    ("jinshi", "金石镇", pb::UnitKind::Township, Some("city")),
    (
        "jinshi-v1",
        "金石一村",
        pb::UnitKind::Village,
        Some("jinshi"),
    ),
    (
        "jinshi-v2",
        "金石二村",
        pb::UnitKind::Village,
        Some("jinshi"),
    ),
    (
        "dongshan",
        "东山办事处",
        pb::UnitKind::Subdistrict,
        Some("city"),
    ),
    (
        "dongshan-c1",
        "东山一社区",
        pb::UnitKind::Community,
        Some("dongshan"),
    ),
    (
        "dongshan-c2",
        "东山二社区",
        pb::UnitKind::Community,
        Some("dongshan"),
    ),
    (
        "xinfang",
        "市信访局",
        pb::UnitKind::Department,
        Some("city"),
    ),
];

/// `unit` and every seeded unit below it.
pub fn seeded_subtree(unit: &str) -> Vec<&'static str> {
    let parent_of = |id: &str| {
        SEEDED_UNITS
            .iter()
            .find(|(u, ..)| *u == id)
            .and_then(|(.., parent)| *parent)
    };
    SEEDED_UNITS
        .iter()
        .map(|(id, ..)| *id)
        .filter(|id| std::iter::successors(Some(*id), |u| parent_of(u)).any(|a| a == unit))
        .collect()
}

pub fn scored(code: &str, points: u32) -> pb::AnswerOption {
    pb::AnswerOption {
        code: code.into(),
        label: format!("{code} ({points})"),
        kind: pb::OptionKind::Scored.into(),
        points,
    }
}

pub fn dont_know() -> pb::AnswerOption {
    pb::AnswerOption {
        code: "dk".into(),
        label: "不知道".into(),
        kind: pb::OptionKind::DontKnow.into(),
        points: 0,
    }
}

pub fn refused() -> pb::AnswerOption {
    pb::AnswerOption {
        code: "refused".into(),
        label: "拒答".into(),
        kind: pb::OptionKind::Refused.into(),
        points: 0,
    }
}

/// Option codes a..e with the given points, plus "dk" and "refused".
pub fn indicator(code: &str, weight: f64, points: &[u32]) -> pb::Indicator {
    let letters = ["a", "b", "c", "d", "e", "f"];
    let mut options: Vec<_> = points
        .iter()
        .zip(letters)
        .map(|(p, l)| scored(l, *p))
        .collect();
    options.push(dont_know());
    options.push(refused());
    pb::Indicator {
        code: code.into(),
        text: format!("{code}?"),
        weight,
        options,
    }
}

/// Three indicators: security (weight 10; 100/80/50/20/0), police (4; 100/80/60/40/0) and
/// visits (4; 100/0).
pub fn standard_questionnaire() -> pb::Questionnaire {
    pb::Questionnaire {
        id: "q1".into(),
        name: "平安建设满意度".into(),
        indicators: vec![
            indicator("security", 10.0, &[100, 80, 50, 20, 0]),
            indicator("police", 4.0, &[100, 80, 60, 40, 0]),
            indicator("visits", 4.0, &[100, 0]),
        ],
        create_time: None,
    }
}

pub fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A campaign over the whole city, open from 30 days ago to 30 days ahead.
pub fn campaign(id: &str, compared: Option<&str>, min_sample: u32) -> pb::Campaign {
    pb::Campaign {
        id: id.into(),
        name: format!("2026 round {id}"),
        questionnaire_id: "q1".into(),
        scope_unit_id: "city".into(),
        open_time: Some(ts(now_seconds() - 30 * 86_400)),
        close_time: Some(ts(now_seconds() + 30 * 86_400)),
        compared_campaign_id: compared.unwrap_or_default().into(),
        min_sample,
        create_time: None,
        ..Default::default()
    }
}

pub fn answer(indicator: &str, option: &str) -> pb::Answer {
    pb::Answer {
        indicator_code: indicator.into(),
        option_code: option.into(),
    }
}

/// A valid visit to `unit` in campaign `campaign` with the given answers.
pub fn visit(campaign: &str, unit: &str, answers: Vec<pb::Answer>) -> pb::SubmitVisitRequest {
    let end = now_seconds() - 60;
    pb::SubmitVisitRequest {
        submission_id: uuid::Uuid::now_v7().to_string(),
        campaign_id: campaign.into(),
        unit_id: unit.into(),
        household_ref: format!("hh-{}", uuid::Uuid::new_v4()),
        start_time: Some(ts(end - 600)),
        end_time: Some(ts(end)),
        location: Some(pb::GeoLocation {
            latitude: 29.87,
            longitude: 121.55,
            accuracy_meters: 8.0,
        }),
        answers,
        respondent_attributes: Default::default(),
        grievances: Vec::new(),
    }
}

/// A valid phone poll of `number`.
pub fn phone_poll(
    campaign: &str,
    unit: &str,
    number: &str,
    answers: Vec<pb::Answer>,
) -> pb::SubmitPhonePollRequest {
    let end = now_seconds() - 60;
    pb::SubmitPhonePollRequest {
        submission_id: uuid::Uuid::now_v7().to_string(),
        campaign_id: campaign.into(),
        unit_id: unit.into(),
        phone_number: number.into(),
        carrier: pb::Carrier::ChinaMobile.into(),
        start_time: Some(ts(end - 300)),
        end_time: Some(ts(end)),
        answers,
        respondent_attributes: Default::default(),
    }
}
