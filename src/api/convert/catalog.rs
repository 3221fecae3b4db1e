//! Units, questionnaires and campaigns.

use super::weighting::{weighting_from_proto, weighting_to_proto};
use super::*;
use crate::domain::lifecycle::{CampaignPatch, UnitPatch};

pub fn unit_from_proto(unit: Option<pb::Unit>, now: Timestamp) -> Result<Unit> {
    let mut v = Violations::new();
    let unit = unit_fields(&mut v, "unit", &unit.unwrap_or_default(), now);
    v.into_result(|| unit)
}

/// The units of an import, with the index of each in the request. Every malformed field of
/// every unit is named (`units[12].kind`); malformed units are left out of the list, so the
/// planner can still name what else is wrong (duplicates, parents, cycles) in one answer.
///
/// # Errors
/// INVALID_ARGUMENT for an empty list or one over [`MAX_IMPORT_UNITS`].
pub fn import_units_from_proto(
    request: &pb::ImportUnitsRequest,
    now: Timestamp,
    v: &mut Violations,
) -> Result<Vec<(usize, Unit)>> {
    if request.units.is_empty() {
        return Err(Error::invalid("units", "must list at least one unit"));
    }
    if request.units.len() > MAX_IMPORT_UNITS {
        return Err(Error::invalid(
            "units",
            format!(
                "lists {} units; at most {MAX_IMPORT_UNITS} per import",
                request.units.len()
            ),
        ));
    }
    Ok(request
        .units
        .iter()
        .enumerate()
        .filter_map(|(i, unit)| unit_fields(v, &format!("units[{i}]"), unit, now).map(|u| (i, u)))
        .collect())
}

/// Most units one import may carry.
pub const MAX_IMPORT_UNITS: usize = 50_000;

/// Parses one unit, recording each malformed field under `prefix`.
fn unit_fields(v: &mut Violations, prefix: &str, unit: &pb::Unit, now: Timestamp) -> Option<Unit> {
    let id = v.check(format!("{prefix}.id"), UnitId::parse(&unit.id));
    let name = v.check(format!("{prefix}.name"), parse_name(&unit.name));
    let kind = v.check(format!("{prefix}.kind"), unit_kind(unit.kind));
    let parent_id = v.check(
        format!("{prefix}.parent_id"),
        optional_id(&unit.parent_id, UnitId::parse),
    );
    let area = unit
        .area
        .map(|a| area_from_proto(v, &format!("{prefix}.area"), &a));
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
        archived_at: None,
    })
}

fn area_from_proto(v: &mut Violations, prefix: &str, a: &pb::GeoArea) -> Option<Area> {
    let latitude = v.check(format!("{prefix}.latitude"), parse_latitude(a.latitude));
    let longitude = v.check(format!("{prefix}.longitude"), parse_longitude(a.longitude));
    if !(a.radius_meters.is_finite() && a.radius_meters > 0.0) {
        v.add(
            format!("{prefix}.radius_meters"),
            "must be a finite number of metres above 0",
        );
    }
    Some(Area {
        latitude: latitude?,
        longitude: longitude?,
        radius_meters: a.radius_meters,
    })
}

/// The paths of an update mask, or `default` (the fields the message sets) when it is empty.
/// `*` stands for every path in `all`.
fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    all: &[&'static str],
    default: Vec<&'static str>,
) -> Vec<String> {
    match mask.map(|m| m.paths.as_slice()) {
        None | Some([]) => default.into_iter().map(str::to_owned).collect(),
        Some(paths) if paths.iter().any(|p| p == "*") => {
            all.iter().map(|p| (*p).to_owned()).collect()
        }
        Some(paths) => paths.to_vec(),
    }
}

/// Records a path no update may name: immutable or unknown.
fn refuse_path(v: &mut Violations, index: usize, path: &str, immutable: &[&str]) {
    let why = if immutable.contains(&path) {
        format!("{path:?} cannot be changed")
    } else {
        format!("{path:?} is not a field that can be updated")
    };
    v.add(format!("update_mask.paths[{index}]"), why);
}

/// An UpdateUnit request as the unit's id and the changes its mask names.
pub fn unit_patch_from_proto(r: pb::UpdateUnitRequest) -> Result<(UnitId, UnitPatch)> {
    let unit = r.unit.unwrap_or_default();
    let mut v = Violations::new();
    let id = v.check("unit.id", UnitId::parse(&unit.id));
    let mut set = Vec::new();
    if !unit.name.is_empty() {
        set.push("name");
    }
    if !unit.parent_id.is_empty() {
        set.push("parent_id");
    }
    if unit.area.is_some() {
        set.push("area");
    }
    let explicit = r.update_mask.as_ref().is_some_and(|m| !m.paths.is_empty());
    let paths = mask_paths(r.update_mask.as_ref(), &["name", "parent_id", "area"], set);
    let mut patch = UnitPatch::default();
    for (i, path) in paths.iter().enumerate() {
        match path.as_str() {
            "name" => patch.name = v.check("unit.name", parse_name(&unit.name)),
            "parent_id" => {
                patch.parent_id = v.check(
                    "unit.parent_id",
                    optional_id(&unit.parent_id, UnitId::parse),
                );
            }
            "area" => {
                patch.area = Some(
                    unit.area
                        .as_ref()
                        .and_then(|a| area_from_proto(&mut v, "unit.area", a)),
                )
            }
            other if explicit => refuse_path(
                &mut v,
                i,
                other,
                &["id", "kind", "create_time", "archived", "archive_time"],
            ),
            _ => {}
        }
    }
    if paths.is_empty() {
        v.add(
            "update_mask",
            "names no field to change, and the unit sets none",
        );
    }
    v.into_result(|| Some((id?, patch)))
}

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

pub fn unit_to_proto(unit: &Unit) -> pb::Unit {
    pb::Unit {
        archived: unit.is_archived(),
        archive_time: unit.archived_at.map(timestamp_to_proto),
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
