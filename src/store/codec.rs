//! Encodings shared by the backends: questionnaire definitions and answers as JSON, and the
//! aggregate deltas a batch of submissions contributes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::{CampaignId, Code, UnitId};
use crate::domain::questionnaire::{AnswerOption, Indicator, OptionValue};
use crate::domain::scoring::{CellKey, Stratum};
use crate::domain::stats::Moments;
use crate::domain::submission::{Carrier, Channel, NewSubmission};
use crate::domain::weighting::{Margin, Method, Weighting};
use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
struct IndicatorJson {
    code: String,
    text: String,
    weight: f64,
    options: Vec<OptionJson>,
}

#[derive(Serialize, Deserialize)]
struct OptionJson {
    code: String,
    label: String,
    /// Present for scored options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    points: Option<u8>,
    /// "dont_know" or "refused" for options that count in no score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    excluded: Option<String>,
}

pub fn encode_indicators(indicators: &[Indicator]) -> String {
    let json: Vec<IndicatorJson> = indicators
        .iter()
        .map(|i| IndicatorJson {
            code: i.code.to_string(),
            text: i.text.clone(),
            weight: i.weight,
            options: i
                .options
                .iter()
                .map(|o| {
                    let (points, excluded) = match o.value {
                        OptionValue::Points(p) => (Some(p), None),
                        OptionValue::DontKnow => (None, Some("dont_know".to_owned())),
                        OptionValue::Refused => (None, Some("refused".to_owned())),
                    };
                    OptionJson {
                        code: o.code.to_string(),
                        label: o.label.clone(),
                        points,
                        excluded,
                    }
                })
                .collect(),
        })
        .collect();
    serde_json::to_string(&json).expect("questionnaire JSON always serialises")
}

pub fn decode_indicators(json: &str) -> Result<Vec<Indicator>> {
    let corrupt = |what: &str| Error::internal(format!("stored questionnaire: {what}"));
    let parsed: Vec<IndicatorJson> =
        serde_json::from_str(json).map_err(|e| corrupt(&e.to_string()))?;
    parsed
        .into_iter()
        .map(|i| {
            let options = i
                .options
                .into_iter()
                .map(|o| {
                    let value = match (o.points, o.excluded.as_deref()) {
                        (Some(p), None) => OptionValue::Points(p),
                        (None, Some("dont_know")) => OptionValue::DontKnow,
                        (None, Some("refused")) => OptionValue::Refused,
                        _ => return Err(corrupt("option value")),
                    };
                    Ok(AnswerOption {
                        code: Code::parse(&o.code).map_err(|e| corrupt(&e))?,
                        label: o.label,
                        value,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Indicator {
                code: Code::parse(&i.code).map_err(|e| corrupt(&e))?,
                text: i.text,
                weight: i.weight,
                options,
            })
        })
        .collect()
}

/// Answers as a JSON object, indicator code -> option code.
pub fn encode_answers(submission: &NewSubmission) -> String {
    let map: BTreeMap<&str, &str> = submission
        .answers
        .iter()
        .map(|a| (a.indicator.as_str(), a.option.as_str()))
        .collect();
    serde_json::to_string(&map).expect("answer JSON always serialises")
}

pub fn decode_answers(json: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(json).map_err(|e| Error::internal(format!("stored answers: {e}")))
}

#[derive(Serialize, Deserialize)]
struct WeightingJson {
    /// "post_stratification" or "raking".
    method: String,
    margins: Vec<MarginJson>,
}

#[derive(Serialize, Deserialize)]
struct MarginJson {
    dimension: String,
    shares: BTreeMap<String, f64>,
}

pub fn encode_weighting(weighting: Option<&Weighting>) -> Option<String> {
    weighting.map(|w| {
        let json = WeightingJson {
            method: match w.method {
                Method::PostStratification => "post_stratification".into(),
                Method::Raking => "raking".into(),
            },
            margins: w
                .margins
                .iter()
                .map(|m| MarginJson {
                    dimension: m.dimension.clone(),
                    shares: m.shares.clone(),
                })
                .collect(),
        };
        serde_json::to_string(&json).expect("weighting JSON always serialises")
    })
}

pub fn decode_weighting(json: Option<&str>) -> Result<Option<Weighting>> {
    let Some(json) = json else {
        return Ok(None);
    };
    let corrupt = |what: String| Error::internal(format!("stored weighting: {what}"));
    let parsed: WeightingJson = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
    let method = match parsed.method.as_str() {
        "post_stratification" => Method::PostStratification,
        "raking" => Method::Raking,
        other => return Err(corrupt(format!("unknown method {other:?}"))),
    };
    Ok(Some(Weighting {
        method,
        margins: parsed
            .margins
            .into_iter()
            .map(|m| Margin {
                dimension: m.dimension,
                shares: m.shares,
            })
            .collect(),
    }))
}

pub fn encode_attributes(attributes: &BTreeMap<String, String>) -> String {
    serde_json::to_string(attributes).expect("attribute JSON always serialises")
}

/// A submission as stored, for audits and recomputation from raw rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubmission {
    pub submission_id: Uuid,
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub answers: BTreeMap<String, String>,
}

/// The database's number for "no carrier" (visits) in key columns, where NULL cannot stand.
pub const NO_CARRIER: i16 = 0;

pub fn carrier_column(carrier: Option<Carrier>) -> i16 {
    carrier.map_or(NO_CARRIER, Carrier::as_i16)
}

pub fn carrier_from_column(value: i16) -> Option<Carrier> {
    Carrier::from_i16(value)
}

pub type StatKey = (CampaignId, UnitId, Code, Channel, i16, Stratum);
pub type CountKey = (CampaignId, UnitId, Channel, i16, Stratum);

/// The cell of a stored aggregate row.
pub fn cell_key(channel: i16, carrier: i16, stratum: String) -> Result<CellKey> {
    Ok(CellKey {
        channel: Channel::from_i16(channel)
            .ok_or_else(|| Error::internal("stored channel unknown"))?,
        carrier: carrier_from_column(carrier),
        stratum: Stratum::from_stored(stratum),
    })
}

/// The aggregate rows a set of newly accepted submissions adds, summed per key so that each
/// touched row is updated once per batch.
#[derive(Debug, Default)]
pub struct Deltas {
    pub indicators: HashMap<StatKey, Moments>,
    pub counts: HashMap<CountKey, i64>,
}

impl Deltas {
    pub fn of<'a>(submissions: impl IntoIterator<Item = &'a NewSubmission>) -> Self {
        let mut deltas = Self::default();
        for s in submissions {
            let channel = s.source.channel();
            let carrier = carrier_column(s.source.carrier());
            *deltas
                .counts
                .entry((
                    s.campaign_id.clone(),
                    s.unit_id.clone(),
                    channel,
                    carrier,
                    s.stratum.clone(),
                ))
                .or_default() += 1;
            for answer in &s.answers {
                *deltas
                    .indicators
                    .entry((
                        s.campaign_id.clone(),
                        s.unit_id.clone(),
                        answer.indicator.clone(),
                        channel,
                        carrier,
                        s.stratum.clone(),
                    ))
                    .or_default() += Moments::of_answer(answer.points);
            }
        }
        deltas
    }
}
