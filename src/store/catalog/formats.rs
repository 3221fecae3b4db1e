//! The JSON forms in which the catalog keeps questionnaires, weighting and quality rules. They
//! are part of the schema: rows written by earlier releases must still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::ids::Code;
use crate::domain::quality::QualityRules;
use crate::domain::questionnaire::{AnswerOption, Indicator, OptionValue};
use crate::domain::weighting::{Margin, Method, Weighting};
use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
pub struct IndicatorJson {
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

pub fn indicators_json(indicators: &[Indicator]) -> Vec<IndicatorJson> {
    indicators
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
        .collect()
}

pub fn indicators(stored: Vec<IndicatorJson>) -> Result<Vec<Indicator>> {
    let corrupt = |what: &str| Error::internal(format!("stored questionnaire: {what}"));
    stored
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

#[derive(Serialize, Deserialize)]
pub struct WeightingJson {
    /// "post_stratification" or "raking".
    method: String,
    margins: Vec<MarginJson>,
}

#[derive(Serialize, Deserialize)]
struct MarginJson {
    dimension: String,
    shares: BTreeMap<String, f64>,
}

pub fn weighting_json(weighting: &Weighting) -> WeightingJson {
    WeightingJson {
        method: match weighting.method {
            Method::PostStratification => "post_stratification".into(),
            Method::Raking => "raking".into(),
        },
        margins: weighting
            .margins
            .iter()
            .map(|m| MarginJson {
                dimension: m.dimension.clone(),
                shares: m.shares.clone(),
            })
            .collect(),
    }
}

pub fn weighting(stored: WeightingJson) -> Result<Weighting> {
    let method = match stored.method.as_str() {
        "post_stratification" => Method::PostStratification,
        "raking" => Method::Raking,
        other => {
            return Err(Error::internal(format!(
                "stored weighting: unknown method {other:?}"
            )));
        }
    };
    Ok(Weighting {
        method,
        margins: stored
            .margins
            .into_iter()
            .map(|m| Margin {
                dimension: m.dimension,
                shares: m.shares,
            })
            .collect(),
    })
}

#[derive(Serialize, Deserialize)]
pub struct QualityRulesJson {
    min_seconds_per_answer: u32,
    max_gps_accuracy_meters: f64,
    max_upload_delay_hours: u32,
}

impl From<&QualityRules> for QualityRulesJson {
    fn from(rules: &QualityRules) -> Self {
        Self {
            min_seconds_per_answer: rules.min_seconds_per_answer,
            max_gps_accuracy_meters: rules.max_gps_accuracy_meters,
            max_upload_delay_hours: rules.max_upload_delay_hours,
        }
    }
}

impl From<QualityRulesJson> for QualityRules {
    fn from(r: QualityRulesJson) -> Self {
        Self {
            min_seconds_per_answer: r.min_seconds_per_answer,
            max_gps_accuracy_meters: r.max_gps_accuracy_meters,
            max_upload_delay_hours: r.max_upload_delay_hours,
        }
    }
}
