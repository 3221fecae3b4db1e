//! Rows of an export as the store reads them, and what an export makes of them: answers
//! decoded against the questionnaire, the unit placed in its tree. No phone number exists at
//! this level: the store keeps only the respondent's keyed hash.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::aapor::Disposition;
use super::channel::{Carrier, Channel};
use super::flags::Flag;
use super::geo::GeoLocation;
use super::ids::{CampaignId, UnitId};
use super::questionnaire::{OptionValue, Questionnaire};
use super::review::ReviewState;
use super::time::Timestamp;
use super::unit::{Unit, UnitTree};

/// Which rows an export reads.
#[derive(Debug, Clone)]
pub struct ExportFilter {
    pub campaign_id: CampaignId,
    /// Only these units (a subtree); `None` for the whole campaign.
    pub units: Option<Vec<UnitId>>,
    /// Only these review states (submissions only); `None` for all.
    pub states: Option<Vec<ReviewState>>,
    /// Interview end (submissions) or attempt time (call attempts) at or after this.
    pub from: Option<Timestamp>,
    /// … and before this.
    pub until: Option<Timestamp>,
}

/// A submission row as stored, in the store's order (`seq`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubmission {
    pub seq: i64,
    pub submission_id: Uuid,
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub respondent_hash: Option<[u8; 32]>,
    pub location: Option<GeoLocation>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub accepted_at: Timestamp,
    /// Indicator code -> option code, as stored.
    pub answers: BTreeMap<String, String>,
    pub state: ReviewState,
    pub flags: Vec<Flag>,
    pub submitted_by: String,
}

/// A call attempt row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAttempt {
    pub seq: i64,
    pub attempt_id: Uuid,
    pub unit_id: UnitId,
    pub carrier: Carrier,
    pub disposition: Disposition,
    pub attempted_at: Timestamp,
    pub accepted_at: Timestamp,
    pub submitted_by: String,
    pub respondent_hash: [u8; 32],
}

/// One answer, decoded: the indicator and option codes with what the option is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedAnswer {
    pub indicator: String,
    pub option: String,
    pub value: OptionValue,
}

/// The stored answers in questionnaire order, with each option's value. An answer whose
/// indicator or option the questionnaire lacks cannot have been stored (intake checks codes,
/// and questionnaires never change); it is left out rather than guessed.
pub fn decode_answers(
    questionnaire: &Questionnaire,
    answers: &BTreeMap<String, String>,
) -> Vec<DecodedAnswer> {
    questionnaire
        .indicators
        .iter()
        .filter_map(|indicator| {
            let option = answers.get(indicator.code.as_str())?;
            let value = indicator.option(option)?.value;
            Some(DecodedAnswer {
                indicator: indicator.code.to_string(),
                option: option.clone(),
                value,
            })
        })
        .collect()
}

/// The ancestors of `unit`, root first, the unit itself excluded.
pub fn ancestors<'a>(units: &'a UnitTree, unit: &UnitId) -> Vec<&'a Unit> {
    let mut out = Vec::new();
    let mut current = units.get(unit).and_then(|u| u.parent_id.as_ref());
    while let Some(id) = current {
        // The bound guards against a cycle in corrupted data.
        if out.len() > units.len() {
            break;
        }
        let Some(parent) = units.get(id) else { break };
        out.push(parent);
        current = parent.parent_id.as_ref();
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{Code, QuestionnaireId};
    use crate::domain::questionnaire::{AnswerOption, Indicator};

    fn indicator(code: &str, options: &[(&str, OptionValue)]) -> Indicator {
        Indicator {
            code: Code::parse(code).unwrap(),
            text: code.into(),
            weight: 1.0,
            options: options
                .iter()
                .map(|(c, v)| AnswerOption {
                    code: Code::parse(c).unwrap(),
                    label: c.to_string(),
                    value: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn answers_come_in_questionnaire_order_with_their_values() {
        let q = Questionnaire {
            id: QuestionnaireId::parse("q").unwrap(),
            name: "q".into(),
            indicators: vec![
                indicator("zeta", &[("a", OptionValue::Points(80))]),
                indicator(
                    "alpha",
                    &[
                        ("a", OptionValue::Points(100)),
                        ("dk", OptionValue::DontKnow),
                    ],
                ),
                indicator("mid", &[("r", OptionValue::Refused)]),
            ],
            created_at: Timestamp::from_micros(0),
        };
        let stored: BTreeMap<String, String> = [("alpha", "dk"), ("zeta", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let decoded = decode_answers(&q, &stored);
        assert_eq!(
            decoded,
            [
                DecodedAnswer {
                    indicator: "zeta".into(),
                    option: "a".into(),
                    value: OptionValue::Points(80)
                },
                DecodedAnswer {
                    indicator: "alpha".into(),
                    option: "dk".into(),
                    value: OptionValue::DontKnow
                },
            ]
        );
    }

    #[test]
    fn ancestors_run_from_the_root_down() {
        let unit = |id: &str, parent: Option<&str>| Unit {
            parent_id: parent.map(|p| UnitId::parse(p).unwrap()),
            ..Unit::for_tests(id)
        };
        let tree = UnitTree::new([
            unit("city", None),
            unit("t", Some("city")),
            unit("v", Some("t")),
        ]);
        let ids: Vec<_> = ancestors(&tree, &UnitId::parse("v").unwrap())
            .iter()
            .map(|u| u.id.as_str())
            .collect();
        assert_eq!(ids, ["city", "t"]);
        assert!(ancestors(&tree, &UnitId::parse("city").unwrap()).is_empty());
    }
}
