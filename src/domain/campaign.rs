//! Campaigns: survey rounds over the subtree of a scope unit.

use std::collections::BTreeMap;

use super::cells::Stratum;
use super::ids::{CampaignId, QuestionnaireId, UnitId};
use super::quality::QualityRules;
use super::time::Timestamp;
use super::unit::UnitTree;
use super::weighting::Weighting;
use crate::error::{Error, Result};

/// Units with fewer accepted submissions than this are reported but not ranked, unless the
/// campaign says otherwise (the usual public-statistics rule).
pub const DEFAULT_MIN_SAMPLE: u32 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub questionnaire_id: QuestionnaireId,
    pub scope_unit_id: UnitId,
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
    pub compared_campaign_id: Option<CampaignId>,
    pub min_sample: u32,
    /// Population margins estimates are weighted to; `None` for unweighted campaigns.
    pub weighting: Option<Weighting>,
    pub quality_rules: QualityRules,
    /// AAPOR e when fixed for the campaign; `None` estimates it proportionally.
    pub eligibility_rate: Option<f64>,
    pub created_at: Timestamp,
}

impl Campaign {
    /// The respondent attributes (beyond carrier and channel) this campaign weights by.
    pub fn weighting_attributes(&self) -> impl Iterator<Item = &super::weighting::Margin> {
        self.weighting
            .iter()
            .flat_map(|w| &w.margins)
            .filter(|m| !matches!(m.dimension.as_str(), "carrier" | "channel"))
    }

    /// The stratum a respondent with `attributes` falls in: the attributes this campaign
    /// weights by, where they hold one of the margin's levels.
    pub fn stratum(&self, attributes: &BTreeMap<String, String>) -> Stratum {
        let relevant: BTreeMap<String, String> = self
            .weighting_attributes()
            .filter_map(|m| {
                let value = attributes.get(&m.dimension)?;
                m.shares
                    .contains_key(value)
                    .then(|| (m.dimension.clone(), value.clone()))
            })
            .collect();
        Stratum::new(&relevant)
    }

    /// Whether an interview that ended at `at` belongs to this round: `[opens_at, closes_at)`.
    pub fn is_open_at(&self, at: Timestamp) -> bool {
        self.opens_at <= at && at < self.closes_at
    }

    /// Refuses a unit outside this campaign's scope (the scope unit and its descendants): the
    /// campaign takes no submission, call attempt or question about it. Its figures would be
    /// zeros that read like a unit nobody was satisfied with, and an ancestor's would be the
    /// scope's under another name.
    ///
    /// # Errors
    /// FAILED_PRECONDITION (UNIT_OUT_OF_CAMPAIGN_SCOPE) when `unit` lies outside the scope.
    pub fn require_in_scope(&self, units: &UnitTree, unit: &UnitId) -> Result<()> {
        if units.is_within(unit, &self.scope_unit_id) {
            return Ok(());
        }
        Err(Error::precondition(
            "UNIT_OUT_OF_CAMPAIGN_SCOPE",
            format!("units/{unit}"),
            format!(
                "unit {unit} is not within campaign {}'s scope unit {}",
                self.id, self.scope_unit_id
            ),
        ))
    }

    /// Refuses a unit archived before this campaign was created: the campaign neither surveys
    /// nor ranks it.
    ///
    /// # Errors
    /// FAILED_PRECONDITION (UNIT_ARCHIVED, `units/<id>`).
    pub fn require_surveys(&self, unit: &super::unit::Unit) -> Result<()> {
        match unit.archived_at {
            Some(at) if at <= self.created_at => Err(Error::precondition(
                "UNIT_ARCHIVED",
                format!("units/{}", unit.id),
                format!(
                    "unit {} was archived before campaign {} was created; the campaign does not survey it",
                    unit.id, self.id
                ),
            )),
            _ => Ok(()),
        }
    }

    /// An unweighted campaign `id` of `questionnaire` over `scope`, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(id: &str, questionnaire: &QuestionnaireId, scope: &str) -> Self {
        Self {
            id: CampaignId::parse(id).unwrap(),
            name: id.into(),
            questionnaire_id: questionnaire.clone(),
            scope_unit_id: UnitId::parse(scope).unwrap(),
            opens_at: Timestamp::from_micros(0),
            closes_at: Timestamp::from_micros(1),
            compared_campaign_id: None,
            min_sample: 1,
            weighting: None,
            quality_rules: QualityRules::default(),
            eligibility_rate: None,
            created_at: Timestamp::from_micros(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::unit::Unit;

    #[test]
    fn only_the_scope_and_its_descendants_are_in_scope() {
        let unit = |id: &str, parent: Option<&str>| Unit {
            parent_id: parent.map(|p| UnitId::parse(p).unwrap()),
            ..Unit::for_tests(id)
        };
        let tree = UnitTree::new([
            unit("city", None),
            unit("jinshi", Some("city")),
            unit("jinshi-v1", Some("jinshi")),
            unit("dongshan", Some("city")),
        ]);
        let q = QuestionnaireId::parse("q").unwrap();
        let campaign = Campaign::for_tests("c", &q, "jinshi");
        let check = |id: &str| campaign.require_in_scope(&tree, &UnitId::parse(id).unwrap());
        assert!(check("jinshi").is_ok());
        assert!(check("jinshi-v1").is_ok());
        for outside in ["dongshan", "city"] {
            match check(outside) {
                Err(Error::FailedPrecondition {
                    violation_type,
                    subject,
                    ..
                }) => {
                    assert_eq!(violation_type, "UNIT_OUT_OF_CAMPAIGN_SCOPE");
                    assert_eq!(subject, format!("units/{outside}"));
                }
                other => panic!("{outside}: {other:?}"),
            }
        }
    }
}
