//! The catalog's lifecycle rules: what an update, an archive or a restore may do to a unit,
//! and what may change in a campaign once it holds data. Pure functions over the catalog as it
//! stands; the catalog service loads, asks, and writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::campaign::Campaign;
use super::geo::Area;
use super::ids::{CampaignId, QuestionnaireId, UnitId};
use super::quality::QualityRules;
use super::time::Timestamp;
use super::unit::{Unit, UnitTree};
use super::weighting::{Method, Weighting};
use crate::error::{Error, Result};

/// The fields an UpdateUnit changes: `Some` for each field in the mask.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitPatch {
    pub name: Option<String>,
    /// `Some(None)` makes the unit a root.
    pub parent_id: Option<Option<UnitId>>,
    /// `Some(None)` clears the area.
    pub area: Option<Option<Area>>,
}

/// Refuses a parent that is archived: nothing new goes under a unit no new campaign surveys.
///
/// # Errors
/// NOT_FOUND for an unknown parent; FAILED_PRECONDITION (PARENT_ARCHIVED, `field`).
pub fn require_live_parent(tree: &UnitTree, parent: &UnitId, field: &str) -> Result<()> {
    let unit = tree
        .get(parent)
        .ok_or_else(|| Error::not_found("unit", parent.as_str()))?;
    if unit.is_archived() {
        return Err(Error::precondition(
            "PARENT_ARCHIVED",
            field,
            format!("unit {parent} is archived; restore it first or choose another parent"),
        ));
    }
    Ok(())
}

/// The unit after `patch`. A move keeps the tree acyclic: the new parent may be neither the
/// unit nor one of its descendants. The catalog puts no rule on which kind sits under which,
/// at creation or on a move.
///
/// # Errors
/// NOT_FOUND for an unknown parent; FAILED_PRECONDITION (UNIT_TREE_CYCLE or PARENT_ARCHIVED,
/// `unit.parent_id`).
pub fn updated_unit(tree: &UnitTree, before: &Unit, patch: &UnitPatch) -> Result<Unit> {
    if let Some(Some(parent)) = &patch.parent_id
        && before.parent_id.as_ref() != Some(parent)
    {
        if tree.get(parent).is_some() && tree.is_within(parent, &before.id) {
            return Err(Error::precondition(
                "UNIT_TREE_CYCLE",
                "unit.parent_id",
                format!(
                    "unit {parent} is {} itself or lies under it; a unit cannot move into its own subtree",
                    before.id
                ),
            ));
        }
        require_live_parent(tree, parent, "unit.parent_id")?;
    }
    Ok(Unit {
        name: patch.name.clone().unwrap_or_else(|| before.name.clone()),
        parent_id: patch
            .parent_id
            .clone()
            .unwrap_or_else(|| before.parent_id.clone()),
        area: patch.area.unwrap_or(before.area),
        ..before.clone()
    })
}

/// Most children a refusal names.
const NAMED_CHILDREN: usize = 10;

/// The unit archived at `at`, or `None` when it is archived already. A unit with live
/// children is refused: they would be surveyed under a unit that is not, and roll up into
/// nothing.
///
/// # Errors
/// FAILED_PRECONDITION (UNIT_HAS_LIVE_CHILDREN, `units/<id>`), naming the live children.
pub fn archived_unit(tree: &UnitTree, unit: &Unit, at: Timestamp) -> Result<Option<Unit>> {
    if unit.is_archived() {
        return Ok(None);
    }
    let live: Vec<&UnitId> = tree
        .children(&unit.id)
        .filter(|c| tree.get(c).is_some_and(|c| !c.is_archived()))
        .collect();
    if !live.is_empty() {
        let mut names: Vec<String> = live
            .iter()
            .take(NAMED_CHILDREN)
            .map(ToString::to_string)
            .collect();
        if live.len() > NAMED_CHILDREN {
            names.push(format!("and {} more", live.len() - NAMED_CHILDREN));
        }
        return Err(Error::precondition(
            "UNIT_HAS_LIVE_CHILDREN",
            format!("units/{}", unit.id),
            format!(
                "unit {} has children that are not archived: {}; archive or move them first",
                unit.id,
                names.join(", ")
            ),
        ));
    }
    Ok(Some(Unit {
        archived_at: Some(at),
        ..unit.clone()
    }))
}

/// The unit restored, or `None` when it is live already.
///
/// # Errors
/// FAILED_PRECONDITION (PARENT_ARCHIVED, `unit.parent_id`) while its parent is archived.
pub fn restored_unit(tree: &UnitTree, unit: &Unit) -> Result<Option<Unit>> {
    if !unit.is_archived() {
        return Ok(None);
    }
    if let Some(parent) = &unit.parent_id {
        require_live_parent(tree, parent, "unit.parent_id")?;
    }
    Ok(Some(Unit {
        archived_at: None,
        ..unit.clone()
    }))
}

/// The fields of a unit as the audit log records them.
pub fn unit_fields(unit: &Unit) -> Value {
    json!({
        "name": unit.name,
        "kind": unit.kind.label(),
        "parent_id": unit.parent_id.as_ref().map(UnitId::as_str),
        "area": unit.area.map(|a| json!({
            "latitude": a.latitude,
            "longitude": a.longitude,
            "radius_meters": a.radius_meters,
        })),
        "archived_at": unit.archived_at.map(Timestamp::as_micros),
    })
}

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
    use crate::domain::unit::UnitKind;
    use crate::domain::weighting::Margin;

    fn id(s: &str) -> UnitId {
        UnitId::parse(s).unwrap()
    }

    fn tree() -> UnitTree {
        let unit = |i: &str, parent: Option<&str>, kind| Unit {
            kind,
            parent_id: parent.map(id),
            ..Unit::for_tests(i)
        };
        UnitTree::new([
            unit("city", None, UnitKind::City),
            unit("t1", Some("city"), UnitKind::Township),
            unit("v1", Some("t1"), UnitKind::Village),
            unit("t2", Some("city"), UnitKind::Township),
            Unit {
                archived_at: Some(Timestamp::from_micros(5)),
                ..unit("t3", Some("city"), UnitKind::Township)
            },
        ])
    }

    fn subject(result: Result<impl std::fmt::Debug>) -> (String, String) {
        match result {
            Err(Error::FailedPrecondition {
                violation_type,
                subject,
                ..
            }) => (violation_type.to_owned(), subject),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_move_may_not_close_a_cycle_or_go_under_an_archived_unit() {
        let tree = tree();
        let t1 = tree.get(&id("t1")).unwrap();
        let to = |p: &str| UnitPatch {
            parent_id: Some(Some(id(p))),
            ..UnitPatch::default()
        };
        assert_eq!(
            updated_unit(&tree, t1, &to("t2")).unwrap().parent_id,
            Some(id("t2"))
        );
        for into_itself in ["t1", "v1"] {
            assert_eq!(
                subject(updated_unit(&tree, t1, &to(into_itself))),
                ("UNIT_TREE_CYCLE".into(), "unit.parent_id".into())
            );
        }
        assert_eq!(
            subject(updated_unit(&tree, t1, &to("t3"))),
            ("PARENT_ARCHIVED".into(), "unit.parent_id".into())
        );
        assert!(matches!(
            updated_unit(&tree, t1, &to("nowhere")),
            Err(Error::NotFound { .. })
        ));
        let renamed = UnitPatch {
            name: Some("金石街道".into()),
            area: Some(None),
            ..UnitPatch::default()
        };
        let after = updated_unit(&tree, t1, &renamed).unwrap();
        assert_eq!(
            (after.name.as_str(), after.parent_id),
            ("金石街道", Some(id("city")))
        );
    }

    #[test]
    fn archiving_needs_archived_children_and_restoring_a_live_parent() {
        let tree = tree();
        let at = Timestamp::from_micros(9);
        let (kind, subject_) = subject(archived_unit(&tree, tree.get(&id("t1")).unwrap(), at));
        assert_eq!(
            (kind.as_str(), subject_.as_str()),
            ("UNIT_HAS_LIVE_CHILDREN", "units/t1")
        );
        let v1 = archived_unit(&tree, tree.get(&id("v1")).unwrap(), at)
            .unwrap()
            .unwrap();
        assert_eq!(v1.archived_at, Some(at));
        let t3 = tree.get(&id("t3")).unwrap();
        assert_eq!(archived_unit(&tree, t3, at).unwrap(), None);
        assert_eq!(restored_unit(&tree, t3).unwrap().unwrap().archived_at, None);
        assert_eq!(
            restored_unit(&tree, tree.get(&id("t2")).unwrap()).unwrap(),
            None
        );
        let under_archived = Unit {
            parent_id: Some(id("t3")),
            archived_at: Some(at),
            ..Unit::for_tests("v9")
        };
        assert_eq!(
            subject(restored_unit(&tree, &under_archived)),
            ("PARENT_ARCHIVED".into(), "unit.parent_id".into())
        );
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
