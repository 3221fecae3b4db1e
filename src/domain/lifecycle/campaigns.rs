//! What may change in a campaign once it holds data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::domain::campaign::Campaign;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::quality::QualityRules;
use crate::domain::time::Timestamp;
use crate::domain::weighting::{Method, Weighting};
use crate::error::{Error, Result};

/// The fields an UpdateCampaign changes: `Some` for each field in the mask.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignPatch {
    pub name: Option<String>,
    pub questionnaire_id: Option<QuestionnaireId>,
    pub scope_unit_id: Option<UnitId>,
    pub opens_at: Option<Timestamp>,
    pub closes_at: Option<Timestamp>,
    pub compared_campaign_id: Option<Option<CampaignId>>,
    pub min_sample: Option<u32>,
    pub weighting: Option<Option<Weighting>>,
    pub quality_rules: Option<QualityRules>,
    pub eligibility_rate: Option<Option<f64>>,
}

/// What a campaign holds already: its submissions and call attempts, and the earliest and
/// latest time among their interview ends and attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CampaignActivity {
    pub records: i64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// The campaign after `patch`, given what it holds and the other campaigns.
///
/// Once it holds data, its questionnaire and scope are fixed (its stored figures are of that
/// questionnaire, over that subtree), its window must still contain every interview and
/// attempt, and its weighting may change shares and method but not the respondent-attribute
/// margins (dimensions and levels) its stored strata were cut by. The name, minimum sample,
/// quality rules (for submissions accepted from then on), eligibility rate and compared
/// campaign may always change; the compared campaign must exist and the comparison chain stay
/// free of cycles.
///
/// # Errors
/// INVALID_ARGUMENT (`campaign.close_time`) for a close not after the open; FAILED_PRECONDITION
/// naming the refused field otherwise.
pub fn updated_campaign(
    before: &Campaign,
    patch: &CampaignPatch,
    activity: &CampaignActivity,
    campaigns: &HashMap<CampaignId, Arc<Campaign>>,
) -> Result<Campaign> {
    let after = Campaign {
        name: patch.name.clone().unwrap_or_else(|| before.name.clone()),
        questionnaire_id: patch
            .questionnaire_id
            .clone()
            .unwrap_or_else(|| before.questionnaire_id.clone()),
        scope_unit_id: patch
            .scope_unit_id
            .clone()
            .unwrap_or_else(|| before.scope_unit_id.clone()),
        opens_at: patch.opens_at.unwrap_or(before.opens_at),
        closes_at: patch.closes_at.unwrap_or(before.closes_at),
        compared_campaign_id: patch
            .compared_campaign_id
            .clone()
            .unwrap_or_else(|| before.compared_campaign_id.clone()),
        min_sample: patch.min_sample.unwrap_or(before.min_sample),
        weighting: patch
            .weighting
            .clone()
            .unwrap_or_else(|| before.weighting.clone()),
        quality_rules: patch.quality_rules.unwrap_or(before.quality_rules),
        eligibility_rate: patch.eligibility_rate.unwrap_or(before.eligibility_rate),
        ..before.clone()
    };
    if after.closes_at <= after.opens_at {
        return Err(Error::invalid(
            "campaign.close_time",
            "must be after open_time",
        ));
    }
    let refuse = |field: &str, why: String| {
        Err(Error::precondition(
            "CAMPAIGN_HAS_DATA",
            format!("campaign.{field}"),
            why,
        ))
    };
    if activity.records > 0 {
        let held = format!("campaign {} holds {} records", before.id, activity.records);
        if after.questionnaire_id != before.questionnaire_id {
            return refuse(
                "questionnaire_id",
                format!("{held}; its questionnaire cannot change (create a new campaign)"),
            );
        }
        if after.scope_unit_id != before.scope_unit_id {
            return refuse(
                "scope_unit_id",
                format!("{held}; its scope cannot change (create a new campaign)"),
            );
        }
        if let Some(first) = activity.first
            && after.opens_at > first
        {
            return refuse(
                "open_time",
                format!(
                    "{held}; the earliest is at {}, before the new open time",
                    first.to_offset_date_time()
                ),
            );
        }
        if let Some(last) = activity.last
            && after.closes_at <= last
        {
            return refuse(
                "close_time",
                format!(
                    "{held}; the latest is at {}, not before the new close time",
                    last.to_offset_date_time()
                ),
            );
        }
        if strata(&after) != strata(before) {
            return refuse(
                "weighting",
                format!(
                    "{held}, stored by the strata of its respondent-attribute margins; only \
                     shares, carrier and channel margins and the method may change"
                ),
            );
        }
    }
    if let Some(compared) = &after.compared_campaign_id
        && before.compared_campaign_id.as_ref() != Some(compared)
    {
        let field = "campaign.compared_campaign_id";
        if compared == &before.id {
            return Err(Error::precondition(
                "COMPARISON_CYCLE",
                field,
                "a campaign cannot be compared with itself",
            ));
        }
        if !campaigns.contains_key(compared) {
            return Err(Error::precondition(
                "COMPARED_CAMPAIGN_NOT_FOUND",
                field,
                format!("campaign {compared} does not exist"),
            ));
        }
        let mut current = Some(compared.clone());
        for _ in 0..=campaigns.len() {
            let Some(id) = current else { break };
            if id == before.id {
                return Err(Error::precondition(
                    "COMPARISON_CYCLE",
                    field,
                    format!(
                        "campaign {compared} is compared, directly or not, with {}",
                        before.id
                    ),
                ));
            }
            current = campaigns
                .get(&id)
                .and_then(|c| c.compared_campaign_id.clone());
        }
    }
    Ok(after)
}

/// The respondent-attribute margins a campaign's strata are cut by: dimension and levels.
fn strata(campaign: &Campaign) -> BTreeMap<&str, BTreeSet<&str>> {
    campaign
        .weighting_attributes()
        .map(|m| {
            (
                m.dimension.as_str(),
                m.shares.keys().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// The fields of a campaign as the audit log records them.
pub fn campaign_fields(c: &Campaign) -> Value {
    json!({
        "name": c.name,
        "questionnaire_id": c.questionnaire_id.as_str(),
        "scope_unit_id": c.scope_unit_id.as_str(),
        "open_time": c.opens_at.as_micros(),
        "close_time": c.closes_at.as_micros(),
        "compared_campaign_id": c.compared_campaign_id.as_ref().map(CampaignId::as_str),
        "min_sample": c.min_sample,
        "weighting": c.weighting.as_ref().map(|w| json!({
            "method": match w.method {
                Method::PostStratification => "post_stratification",
                Method::Raking => "raking",
            },
            "margins": w.margins.iter().map(|m| json!({
                "dimension": m.dimension,
                "shares": m.shares,
            })).collect::<Vec<_>>(),
        })),
        "quality_rules": {
            "min_seconds_per_answer": c.quality_rules.min_seconds_per_answer,
            "max_gps_accuracy_meters": c.quality_rules.max_gps_accuracy_meters,
            "max_upload_delay_hours": c.quality_rules.max_upload_delay_hours,
        },
        "eligibility_rate": c.eligibility_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::test_support::subject;
    use crate::domain::weighting::Margin;

    fn id(s: &str) -> UnitId {
        UnitId::parse(s).unwrap()
    }

    fn campaign(cid: &str, compared: Option<&str>) -> Campaign {
        Campaign {
            opens_at: Timestamp::from_micros(0),
            closes_at: Timestamp::from_micros(1_000),
            compared_campaign_id: compared.map(|c| CampaignId::parse(c).unwrap()),
            ..Campaign::for_tests(cid, &QuestionnaireId::parse("q").unwrap(), "city")
        }
    }

    #[test]
    fn a_campaign_with_data_keeps_its_questionnaire_scope_window_and_strata() {
        let before = campaign("r2", None);
        let all = HashMap::new();
        let held = CampaignActivity {
            records: 3,
            first: Some(Timestamp::from_micros(100)),
            last: Some(Timestamp::from_micros(500)),
        };
        let empty = CampaignActivity::default();
        let margin = |levels: &[&str]| Weighting {
            method: Method::PostStratification,
            margins: vec![Margin {
                dimension: "age_band".into(),
                shares: levels
                    .iter()
                    .map(|l| ((*l).to_owned(), 1.0 / levels.len() as f64))
                    .collect(),
            }],
        };
        let cases: Vec<(CampaignPatch, &str)> = vec![
            (
                CampaignPatch {
                    questionnaire_id: Some(QuestionnaireId::parse("q2").unwrap()),
                    ..Default::default()
                },
                "campaign.questionnaire_id",
            ),
            (
                CampaignPatch {
                    scope_unit_id: Some(id("t1")),
                    ..Default::default()
                },
                "campaign.scope_unit_id",
            ),
            (
                CampaignPatch {
                    opens_at: Some(Timestamp::from_micros(101)),
                    ..Default::default()
                },
                "campaign.open_time",
            ),
            (
                CampaignPatch {
                    closes_at: Some(Timestamp::from_micros(500)),
                    ..Default::default()
                },
                "campaign.close_time",
            ),
            (
                CampaignPatch {
                    weighting: Some(Some(margin(&["young", "old"]))),
                    ..Default::default()
                },
                "campaign.weighting",
            ),
        ];
        for (patch, field) in cases {
            assert_eq!(
                subject(updated_campaign(&before, &patch, &held, &all)).1,
                field
            );
            // Before any data arrives, the same change is allowed.
            assert!(
                updated_campaign(&before, &patch, &empty, &all).is_ok(),
                "{field}"
            );
        }
        // Closing early, just after the latest interview, and renaming are fine.
        let early = CampaignPatch {
            closes_at: Some(Timestamp::from_micros(501)),
            name: Some("2026 第二轮".into()),
            min_sample: Some(10),
            ..Default::default()
        };
        let after = updated_campaign(&before, &early, &held, &all).unwrap();
        assert_eq!((after.closes_at.as_micros(), after.min_sample), (501, 10));
        // A close before the open is malformed whatever the data.
        let inverted = CampaignPatch {
            closes_at: Some(Timestamp::from_micros(0)),
            ..Default::default()
        };
        assert!(matches!(
            updated_campaign(&before, &inverted, &empty, &all),
            Err(Error::InvalidArgument(_))
        ));
        // Shares may be revised when the levels stay.
        let weighted = Campaign {
            weighting: Some(margin(&["young", "old"])),
            ..before.clone()
        };
        let mut revised = margin(&["young", "old"]);
        revised.margins[0].shares.insert("young".into(), 0.4);
        revised.margins[0].shares.insert("old".into(), 0.6);
        let patch = CampaignPatch {
            weighting: Some(Some(revised)),
            ..Default::default()
        };
        assert!(updated_campaign(&weighted, &patch, &held, &all).is_ok());
    }

    #[test]
    fn the_compared_campaign_exists_and_closes_no_cycle() {
        let r1 = campaign("r1", Some("r2"));
        let r2 = campaign("r2", None);
        let all: HashMap<_, _> = [r1.clone(), r2.clone()]
            .into_iter()
            .map(|c| (c.id.clone(), Arc::new(c)))
            .collect();
        let compare = |with: &str| CampaignPatch {
            compared_campaign_id: Some(Some(CampaignId::parse(with).unwrap())),
            ..Default::default()
        };
        let none = CampaignActivity::default();
        for (with, kind) in [
            ("r2", "COMPARISON_CYCLE"),
            ("r1", "COMPARISON_CYCLE"),
            ("r0", "COMPARED_CAMPAIGN_NOT_FOUND"),
        ] {
            assert_eq!(
                subject(updated_campaign(&r2, &compare(with), &none, &all)),
                (kind.to_owned(), "campaign.compared_campaign_id".to_owned())
            );
        }
        let r3 = campaign("r3", None);
        assert!(updated_campaign(&r3, &compare("r1"), &none, &all).is_ok());
    }
}
