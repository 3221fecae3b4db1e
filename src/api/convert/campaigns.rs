//! Campaigns: creation, update masks, quality rules and the wire form.

use super::masks::{mask_paths, refuse_path};
use super::weighting::{weighting_from_proto, weighting_to_proto};
use super::*;
use crate::domain::lifecycle::CampaignPatch;

/// An UpdateCampaign request as the campaign's id and the changes its mask names.
pub fn campaign_patch_from_proto(
    r: pb::UpdateCampaignRequest,
) -> Result<(CampaignId, CampaignPatch)> {
    const ALL: [&str; 10] = [
        "name",
        "questionnaire_id",
        "scope_unit_id",
        "open_time",
        "close_time",
        "compared_campaign_id",
        "min_sample",
        "weighting",
        "quality_rules",
        "eligibility_rate",
    ];
    let c = r.campaign.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("campaign.id", CampaignId::parse(&c.id));
    let set: Vec<&'static str> = [
        ("name", !c.name.is_empty()),
        ("questionnaire_id", !c.questionnaire_id.is_empty()),
        ("scope_unit_id", !c.scope_unit_id.is_empty()),
        ("open_time", c.open_time.is_some()),
        ("close_time", c.close_time.is_some()),
        ("compared_campaign_id", !c.compared_campaign_id.is_empty()),
        ("min_sample", c.min_sample != 0),
        ("weighting", c.weighting.is_some()),
        ("quality_rules", c.quality_rules.is_some()),
        ("eligibility_rate", c.eligibility_rate.is_some()),
    ]
    .into_iter()
    .filter_map(|(path, present)| present.then_some(path))
    .collect();
    let paths = mask_paths(r.update_mask.as_ref(), &ALL, set);
    let mut patch = CampaignPatch::default();
    for (i, path) in paths.iter().enumerate() {
        match path.as_str() {
            "name" => patch.name = v.check("campaign.name", parse_name(&c.name)),
            "questionnaire_id" => {
                patch.questionnaire_id = v.check(
                    "campaign.questionnaire_id",
                    QuestionnaireId::parse(&c.questionnaire_id),
                );
            }
            "scope_unit_id" => {
                patch.scope_unit_id =
                    v.check("campaign.scope_unit_id", UnitId::parse(&c.scope_unit_id));
            }
            "open_time" => {
                patch.opens_at = v.check("campaign.open_time", timestamp(c.open_time.as_ref()));
            }
            "close_time" => {
                patch.closes_at = v.check("campaign.close_time", timestamp(c.close_time.as_ref()));
            }
            "compared_campaign_id" => {
                patch.compared_campaign_id = v.check(
                    "campaign.compared_campaign_id",
                    optional_id(&c.compared_campaign_id, CampaignId::parse),
                );
            }
            "min_sample" => {
                patch.min_sample = Some(if c.min_sample == 0 {
                    DEFAULT_MIN_SAMPLE
                } else {
                    c.min_sample
                });
            }
            "weighting" => {
                patch.weighting = c
                    .weighting
                    .as_ref()
                    .map(|w| weighting_from_proto(&mut v, w))
                    .unwrap_or(Some(None));
            }
            "quality_rules" => {
                patch.quality_rules =
                    Some(quality_rules_from_proto(&mut v, c.quality_rules.as_ref()));
            }
            "eligibility_rate" => {
                if let Some(e) = c.eligibility_rate
                    && !(0.0..=1.0).contains(&e)
                {
                    v.add("campaign.eligibility_rate", "must be between 0 and 1");
                }
                patch.eligibility_rate = Some(c.eligibility_rate);
            }
            other => refuse_path(&mut v, i, other, &["id", "create_time"]),
        }
    }
    if paths.is_empty() {
        v.add(
            "update_mask",
            "names no field to change, and the campaign sets none",
        );
    }
    v.into_result(|| Some((id?, patch)))
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
