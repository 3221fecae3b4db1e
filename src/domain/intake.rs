//! Turning a well-formed submission into one that fits its campaign: answer codes resolved
//! against the questionnaire, timing and scope checked. Pure: the caller supplies "now".

use std::collections::{BTreeMap, HashSet};

use uuid::Uuid;

use super::campaign::Campaign;
use super::grievance::NewGrievance;
use super::ids::{CampaignId, Code, UnitId};
use super::quality::{Interview, check};
use super::questionnaire::Questionnaire;
use super::submission::{NewSubmission, ScoredAnswer, Source};
use super::time::Timestamp;
use super::unit::UnitTree;
use crate::error::{Error, Result, Violations};

/// How far a device clock may run ahead of the server's before an end time counts as future.
pub const CLOCK_SKEW_ALLOWANCE_SECONDS: i64 = 300;

/// A syntactically valid submission, not yet checked against the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionDraft {
    pub id: Uuid,
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub source: Source,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    /// (indicator, option) in the order sent, so violations can name `answers[i]`.
    pub answers: Vec<(Code, Code)>,
    pub attributes: BTreeMap<String, String>,
    pub grievances: Vec<NewGrievance>,
}

/// Resolves `draft` against its campaign. Field errors come first, as INVALID_ARGUMENT naming
/// every offending field; then the campaign's window and scope, as FAILED_PRECONDITION.
pub fn resolve(
    draft: SubmissionDraft,
    campaign: &Campaign,
    questionnaire: &Questionnaire,
    units: &UnitTree,
    now: Timestamp,
    submitted_by: &str,
) -> Result<NewSubmission> {
    let mut violations = Violations::new();
    let mut seen = HashSet::new();
    let mut answers = Vec::with_capacity(draft.answers.len());
    for (i, (indicator_code, option_code)) in draft.answers.iter().enumerate() {
        let Some((position, indicator)) = questionnaire.positioned(indicator_code.as_str()) else {
            violations.add(
                format!("answers[{i}].indicator_code"),
                format!(
                    "unknown indicator {indicator_code:?} in questionnaire {}",
                    questionnaire.id
                ),
            );
            continue;
        };
        if !seen.insert(indicator_code.clone()) {
            violations.add(
                format!("answers[{i}].indicator_code"),
                format!("indicator {indicator_code:?} is answered more than once"),
            );
            continue;
        }
        match indicator.option(option_code.as_str()) {
            Some(option) => answers.push(ScoredAnswer {
                indicator: indicator_code.clone(),
                position,
                option: option_code.clone(),
                points: option.value.points(),
                top_three: indicator.is_top_three(option.value.points()),
            }),
            None => violations.add(
                format!("answers[{i}].option_code"),
                format!("unknown option {option_code:?} for indicator {indicator_code:?}"),
            ),
        }
    }
    for margin in campaign.weighting_attributes() {
        if let Some(value) = draft.attributes.get(&margin.dimension)
            && !margin.shares.contains_key(value)
        {
            violations.add(
                format!("respondent_attributes[{}]", margin.dimension),
                format!(
                    "must be one of the campaign's levels: {}",
                    margin.shares.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    if draft.ended_at > now.plus_seconds(CLOCK_SKEW_ALLOWANCE_SECONDS) {
        violations.add("end_time", "is in the future");
    }
    violations.finish()?;

    if !campaign.is_open_at(draft.ended_at) {
        return Err(Error::precondition(
            "CAMPAIGN_NOT_OPEN",
            format!("campaigns/{}", campaign.id),
            format!(
                "campaign {} accepts interviews that ended in its window; this one ended outside it",
                campaign.id
            ),
        ));
    }
    campaign.require_in_scope(units, &draft.unit_id)?;

    answers.sort_by(|a, b| a.indicator.cmp(&b.indicator));
    let location = match &draft.source {
        super::submission::Source::Visit { location, .. } => location.as_ref(),
        super::submission::Source::Phone { .. } => None,
    };
    let flags = check(
        &campaign.quality_rules,
        &Interview {
            started_at: draft.started_at,
            ended_at: draft.ended_at,
            answers: answers.len(),
            location,
            area: units.area_of(&draft.unit_id),
        },
        now,
    );
    Ok(NewSubmission {
        id: draft.id,
        campaign_id: draft.campaign_id,
        unit_id: draft.unit_id,
        source: draft.source,
        started_at: draft.started_at,
        ended_at: draft.ended_at,
        answers,
        stratum: campaign.stratum(&draft.attributes),
        attributes: draft.attributes,
        grievances: draft.grievances,
        flags,
        submitted_by: submitted_by.to_owned(),
    })
}
