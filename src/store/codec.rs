//! Encodings shared by the backends: questionnaire definitions and answers as JSON, and the
//! aggregate deltas a batch of submissions contributes.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::aapor::{Disposition, Outcome, next_outcome};
use crate::domain::campaign::Campaign;
use crate::domain::cells::{CellKey, Figures, Stratum};
use crate::domain::channel::{Carrier, Channel};
use crate::domain::flags::Flag;
use crate::domain::ids::{CampaignId, Code, UnitId};
use crate::domain::quality::QualityRules;
use crate::domain::questionnaire::{AnswerOption, Indicator, OptionValue, Questionnaire};
use crate::domain::review::ReviewState;
use crate::domain::stats::Moments;
use crate::domain::submission::{NewSubmission, Source};
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

/// A stored submission's contribution to the aggregates, rebuilt from its row when a review
/// moves it in or out of them.
#[derive(Debug, Clone)]
pub struct CountedRow {
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub stratum: Stratum,
    /// (questionnaire position, what the answer adds) of each answer.
    pub answers: Vec<(usize, Moments)>,
}

impl CountedRow {
    /// Rebuilds what a stored submission adds to the aggregates from its unit, channel,
    /// carrier column, answers and respondent attributes (both as stored JSON).
    pub fn of_stored(
        campaign: &Campaign,
        questionnaire: &Questionnaire,
        unit_id: UnitId,
        channel: Channel,
        carrier: i16,
        answers: &str,
        attributes: &str,
    ) -> Result<Self> {
        let attributes: BTreeMap<String, String> = serde_json::from_str(attributes)
            .map_err(|e| Error::internal(format!("stored attributes: {e}")))?;
        Ok(Self {
            campaign_id: campaign.id.clone(),
            unit_id,
            channel,
            carrier: carrier_from_column(carrier),
            stratum: campaign.stratum(&attributes),
            answers: score_stored_answers(questionnaire, &decode_answers(answers)?),
        })
    }
}

/// The columns of a stored submission that decide what it adds to the aggregates.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredContribution {
    pub unit_id: String,
    pub channel: i16,
    pub carrier: i16,
    pub answers: String,
    pub respondent_attributes: String,
    pub review_state: i16,
}

/// Counts the top-three answers of every aggregate row of one campaign from its stored
/// submissions (those whose review state counts), for rows written before the counts were
/// kept. Takes one row at a time: a campaign may hold millions.
pub struct TopThreeCount<'a> {
    campaign: &'a Campaign,
    questionnaire: &'a Questionnaire,
    deltas: Deltas,
}

impl<'a> TopThreeCount<'a> {
    pub fn new(campaign: &'a Campaign, questionnaire: &'a Questionnaire) -> Self {
        Self {
            campaign,
            questionnaire,
            deltas: Deltas::default(),
        }
    }

    pub fn add(&mut self, row: &StoredContribution) -> Result<()> {
        let state = ReviewState::from_i16(row.review_state)
            .ok_or_else(|| Error::internal("stored review state unknown"))?;
        if !state.counts() {
            return Ok(());
        }
        let counted = CountedRow::of_stored(
            self.campaign,
            self.questionnaire,
            UnitId::parse(&row.unit_id)
                .map_err(|e| Error::internal(format!("stored unit id: {e}")))?,
            Channel::from_i16(row.channel)
                .ok_or_else(|| Error::internal("stored channel unknown"))?,
            row.carrier,
            &row.answers,
            &row.respondent_attributes,
        )?;
        self.deltas.add_stored(&counted, 1);
        Ok(())
    }

    /// Each row's key with its counts, one per indicator.
    pub fn rows(self) -> Vec<(CellRowKey, Vec<i64>)> {
        self.deltas
            .cells
            .into_iter()
            .map(|(key, figures)| (key, flat_top_three(&figures)))
            .collect()
    }
}

/// A campaign of the loaded catalog with its questionnaire.
pub fn campaign_in<'a>(
    campaigns: &'a [Campaign],
    questionnaires: &'a [Questionnaire],
    id: &str,
) -> Result<(&'a Campaign, &'a Questionnaire)> {
    let campaign = campaigns
        .iter()
        .find(|c| c.id.as_str() == id)
        .ok_or_else(|| Error::internal(format!("aggregates of unknown campaign {id:?}")))?;
    let questionnaire = questionnaires
        .iter()
        .find(|q| q.id == campaign.questionnaire_id)
        .ok_or_else(|| Error::internal(format!("campaign {id:?} without its questionnaire")))?;
    Ok((campaign, questionnaire))
}

/// A stored top-three column; NULL only on a row written by a server older than the count and
/// not yet counted by a current one.
pub fn stored_top_three<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| {
        Error::internal(
            "an aggregate row has no top-three counts yet: restart a current server to count them",
        )
    })
}

/// Scores a stored answers object against the questionnaire; unknown codes (impossible for
/// rows written through validation) are skipped rather than failing a review.
pub fn score_stored_answers(
    questionnaire: &Questionnaire,
    answers: &BTreeMap<String, String>,
) -> Vec<(usize, Moments)> {
    answers
        .iter()
        .filter_map(|(indicator, option)| {
            let (position, i) = questionnaire.positioned(indicator)?;
            let points = i.option(option)?.value.points();
            Some((position, Moments::of_answer(points, i.is_top_three(points))))
        })
        .collect()
}

/// A submission ready to insert: its review state and flags, with the duplicate-household
/// check applied against the households already stored and those earlier in the batch.
pub struct Prepared<'a> {
    pub submission: &'a NewSubmission,
    pub state: ReviewState,
    pub flags: Vec<Flag>,
}

pub type HouseholdKey = (CampaignId, UnitId, String);

pub fn household_key(s: &NewSubmission) -> Option<HouseholdKey> {
    let household = s.source.household_ref()?;
    Some((
        s.campaign_id.clone(),
        s.unit_id.clone(),
        household.to_owned(),
    ))
}

pub fn prepare<'a>(
    batch: &[&'a NewSubmission],
    stored_households: &HashSet<HouseholdKey>,
) -> Vec<Prepared<'a>> {
    let mut seen: HashSet<HouseholdKey> = HashSet::new();
    batch
        .iter()
        .map(|s| {
            let mut flags = s.flags.clone();
            if let Some(key) = household_key(s)
                && (stored_households.contains(&key) || !seen.insert(key))
            {
                flags.push(Flag::DuplicateHousehold);
            }
            flags.sort();
            flags.dedup();
            let state = if flags.is_empty() {
                ReviewState::Received
            } else {
                ReviewState::Flagged
            };
            Prepared {
                submission: s,
                state,
                flags,
            }
        })
        .collect()
}

/// The ids of a batch that a lone writer inserts, knowing what the database already holds:
/// ids it does not hold, except a second interview of a respondent (stored before, or earlier
/// in the batch, which wins as a row-by-row insert would decide). Only valid while the writer
/// holds the database's write lock from these reads to its insert.
pub fn new_submissions(
    batch: &[&NewSubmission],
    existing: &HashMap<(CampaignId, Uuid), crate::store::CommitOutcome>,
    interviewed: &HashSet<(CampaignId, [u8; 32])>,
) -> HashSet<(CampaignId, Uuid)> {
    let mut taken: HashSet<(&CampaignId, [u8; 32])> = HashSet::new();
    batch
        .iter()
        .filter(|s| !existing.contains_key(&(s.campaign_id.clone(), s.id)))
        .filter(|s| match s.source.respondent() {
            Some(respondent) => {
                !interviewed.contains(&(s.campaign_id.clone(), respondent.0))
                    && taken.insert((&s.campaign_id, respondent.0))
            }
            None => true,
        })
        .map(|s| (s.campaign_id.clone(), s.id))
        .collect()
}

/// What each prepared submission became: inserted now, present from before (by id), or left
/// out because its phone respondent was already interviewed.
pub fn outcomes(
    prepared: Vec<Prepared<'_>>,
    is_new: impl Fn(&NewSubmission) -> bool,
    existing: &HashMap<(CampaignId, Uuid), crate::store::CommitOutcome>,
    accepted_at: crate::domain::time::Timestamp,
) -> Vec<crate::store::CommitOutcome> {
    use crate::store::CommitOutcome;
    prepared
        .into_iter()
        .map(|p| {
            let s = p.submission;
            if is_new(s) {
                CommitOutcome::Inserted {
                    accepted_at,
                    state: p.state,
                    flags: p.flags,
                }
            } else {
                existing
                    .get(&(s.campaign_id.clone(), s.id))
                    .cloned()
                    .unwrap_or(CommitOutcome::RespondentTaken)
            }
        })
        .collect()
}

#[derive(Serialize, Deserialize)]
struct QualityRulesJson {
    min_seconds_per_answer: u32,
    max_gps_accuracy_meters: f64,
    max_upload_delay_hours: u32,
}

pub fn encode_quality_rules(rules: &QualityRules) -> String {
    serde_json::to_string(&QualityRulesJson {
        min_seconds_per_answer: rules.min_seconds_per_answer,
        max_gps_accuracy_meters: rules.max_gps_accuracy_meters,
        max_upload_delay_hours: rules.max_upload_delay_hours,
    })
    .expect("quality rules JSON always serialises")
}

pub fn decode_quality_rules(json: Option<&str>) -> Result<QualityRules> {
    let Some(json) = json else {
        return Ok(QualityRules::default());
    };
    let r: QualityRulesJson = serde_json::from_str(json)
        .map_err(|e| Error::internal(format!("stored quality rules: {e}")))?;
    Ok(QualityRules {
        min_seconds_per_answer: r.min_seconds_per_answer,
        max_gps_accuracy_meters: r.max_gps_accuracy_meters,
        max_upload_delay_hours: r.max_upload_delay_hours,
    })
}

/// A submission as stored, for audits and recomputation from raw rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubmission {
    pub submission_id: Uuid,
    pub unit_id: UnitId,
    pub channel: Channel,
    pub carrier: Option<Carrier>,
    pub answers: BTreeMap<String, String>,
    /// Only RECEIVED and APPROVED rows count in the aggregates.
    pub review_state: ReviewState,
}

/// The database's number for "no carrier" (visits) in key columns, where NULL cannot stand.
pub const NO_CARRIER: i16 = 0;

pub fn carrier_column(carrier: Option<Carrier>) -> i16 {
    carrier.map_or(NO_CARRIER, Carrier::as_i16)
}

pub fn carrier_from_column(value: i16) -> Option<Carrier> {
    Carrier::from_i16(value)
}

/// A stored aggregate row's key: campaign, unit, channel, carrier column and stratum.
pub type CellRowKey = (CampaignId, UnitId, Channel, i16, Stratum);

/// The aggregate row a new submission counts in.
pub fn cell_row_key(s: &NewSubmission) -> CellRowKey {
    (
        s.campaign_id.clone(),
        s.unit_id.clone(),
        s.source.channel(),
        carrier_column(s.source.carrier()),
        s.stratum.clone(),
    )
}

/// The cell of a stored aggregate row.
pub fn cell_key(channel: i16, carrier: i16, stratum: String) -> Result<CellKey> {
    Ok(CellKey {
        channel: Channel::from_i16(channel)
            .ok_or_else(|| Error::internal("stored channel unknown"))?,
        carrier: carrier_from_column(carrier),
        stratum: Stratum::from_stored(stratum),
    })
}

/// A row's moments flattened as stored: valid, excluded, sum, sum of squares per indicator.
pub fn flat_moments(figures: &Figures) -> Vec<i64> {
    figures
        .indicators
        .iter()
        .flat_map(|m| [m.valid, m.excluded, m.sum, m.sum_sq])
        .collect()
}

/// A row's top-three counts as stored, one per indicator, in a column of their own.
pub fn flat_top_three(figures: &Figures) -> Vec<i64> {
    figures.indicators.iter().map(|m| m.top_three).collect()
}

/// Rebuilds a row's figures from its stored lists; either may stop early, as zeros beyond its
/// end.
///
/// # Errors
/// A stored moments list whose length is not a multiple of four.
pub fn figures_from_flat(submissions: i64, flat: &[i64], top_three: &[i64]) -> Result<Figures> {
    if !flat.len().is_multiple_of(4) {
        return Err(Error::internal(format!(
            "stored moments hold {} numbers, not four per indicator",
            flat.len()
        )));
    }
    let mut figures = Figures {
        submissions,
        indicators: flat
            .chunks_exact(4)
            .map(|m| Moments {
                valid: m[0],
                excluded: m[1],
                sum: m[2],
                sum_sq: m[3],
                top_three: 0,
            })
            .collect(),
    };
    for (position, count) in top_three.iter().enumerate() {
        figures.add_answer(
            position,
            Moments {
                top_three: *count,
                ..Moments::default()
            },
        );
    }
    Ok(figures)
}

/// A row's flattened moments as a JSON array (SQLite has no arrays).
pub fn moments_json(figures: &Figures) -> String {
    serde_json::to_string(&flat_moments(figures)).expect("numbers always serialise")
}

/// A row's top-three counts as a JSON array.
pub fn top_three_json(figures: &Figures) -> String {
    serde_json::to_string(&flat_top_three(figures)).expect("numbers always serialise")
}

/// # Errors
/// Text that is not a JSON array of whole numbers (four per indicator for the moments).
pub fn figures_from_json(submissions: i64, moments: &str, top_three: &str) -> Result<Figures> {
    let parse = |json: &str| -> Result<Vec<i64>> {
        serde_json::from_str(json).map_err(|e| Error::internal(format!("stored moments: {e}")))
    };
    figures_from_flat(submissions, &parse(moments)?, &parse(top_three)?)
}

/// The aggregate rows a set of submissions changes, summed per row so that each touched row is
/// written once per batch.
#[derive(Debug, Default)]
pub struct Deltas {
    pub cells: HashMap<CellRowKey, Figures>,
}

impl Deltas {
    /// What stored submission rows add (`sign` = 1) or remove (`sign` = -1) when their review
    /// state moves in or out of the aggregates.
    pub fn of_stored(rows: &[CountedRow], sign: i64) -> Self {
        let mut deltas = Self::default();
        for row in rows {
            deltas.add_stored(row, sign);
        }
        deltas
    }

    /// Adds (`sign` = 1) or takes away (`sign` = -1) one stored submission.
    fn add_stored(&mut self, row: &CountedRow, sign: i64) {
        self.count(
            (
                row.campaign_id.clone(),
                row.unit_id.clone(),
                row.channel,
                carrier_column(row.carrier),
                row.stratum.clone(),
            ),
            sign,
            row.answers.iter().copied(),
        );
    }

    pub fn of<'a>(submissions: impl IntoIterator<Item = &'a NewSubmission>) -> Self {
        let mut deltas = Self::default();
        for s in submissions {
            deltas.count(
                cell_row_key(s),
                1,
                s.answers
                    .iter()
                    .map(|a| (a.position, Moments::of_answer(a.points, a.top_three))),
            );
        }
        deltas
    }

    /// Adds (`sign` = 1) or takes away (`sign` = -1) one submission with its (questionnaire
    /// position, moments) answers in the row `key`.
    fn count(
        &mut self,
        key: CellRowKey,
        sign: i64,
        answers: impl Iterator<Item = (usize, Moments)>,
    ) {
        let cell = self.cells.entry(key).or_default();
        cell.submissions += sign;
        for (position, m) in answers {
            cell.add_answer(position, if sign < 0 { m.negated() } else { m });
        }
    }

    /// The touched rows in key order: writers that lock rows in one order cannot deadlock.
    pub fn sorted(&self) -> Vec<(&CellRowKey, &Figures)> {
        let mut rows: Vec<_> = self.cells.iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        rows
    }
}

/// A call outcome to fold into a case (an attempt, or a completed phone poll).
#[derive(Debug, Clone)]
pub struct CaseUpdate {
    pub campaign_id: CampaignId,
    pub respondent: [u8; 32],
    pub unit_id: UnitId,
    pub carrier: i16,
    pub outcome: Outcome,
}

impl CaseUpdate {
    pub fn of_attempt(attempt: &crate::domain::aapor::NewCallAttempt) -> Self {
        Self {
            campaign_id: attempt.campaign_id.clone(),
            respondent: attempt.respondent.0,
            unit_id: attempt.unit_id.clone(),
            carrier: attempt.carrier.as_i16(),
            outcome: Outcome {
                disposition: attempt.disposition,
                at: attempt.attempted_at,
            },
        }
    }
}

/// A case as stored: the unit and carrier of its deciding attempt, and that attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub unit_id: UnitId,
    pub carrier: i16,
    pub outcome: Outcome,
}

pub type CaseKey = (CampaignId, [u8; 32]);
pub type DispositionKey = (CampaignId, UnitId, i16, Disposition);

/// Case changes and disposition-count deltas of a set of updates.
#[derive(Debug, Default)]
pub struct CaseChanges {
    pub cases: HashMap<CaseKey, StoredCase>,
    pub counts: HashMap<DispositionKey, i64>,
    /// The case's final disposition after each update, in update order.
    pub finals: Vec<Disposition>,
}

/// Folds `updates`, in order, into the `current` cases: a case moves from one disposition count
/// to another only when its deciding attempt changes.
pub fn fold_cases(
    mut current: HashMap<CaseKey, StoredCase>,
    updates: &[CaseUpdate],
) -> CaseChanges {
    let mut changes = CaseChanges::default();
    for u in updates {
        let key = (u.campaign_id.clone(), u.respondent);
        let before = current.get(&key).cloned();
        let outcome = next_outcome(before.as_ref().map(|c| c.outcome), u.outcome);
        changes.finals.push(outcome.disposition);
        if before.as_ref().map(|c| c.outcome) == Some(outcome) {
            continue;
        }
        let after = StoredCase {
            unit_id: u.unit_id.clone(),
            carrier: u.carrier,
            outcome,
        };
        if let Some(old) = before {
            *changes
                .counts
                .entry((
                    u.campaign_id.clone(),
                    old.unit_id,
                    old.carrier,
                    old.outcome.disposition,
                ))
                .or_default() -= 1;
        }
        *changes
            .counts
            .entry((
                u.campaign_id.clone(),
                after.unit_id.clone(),
                after.carrier,
                outcome.disposition,
            ))
            .or_default() += 1;
        current.insert(key.clone(), after.clone());
        changes.cases.insert(key, after);
    }
    changes.counts.retain(|_, n| *n != 0);
    changes
}

/// The complete-interview case updates of newly stored phone polls.
pub fn poll_case_updates<'a>(
    polls: impl IntoIterator<Item = &'a NewSubmission>,
) -> Vec<CaseUpdate> {
    polls
        .into_iter()
        .filter_map(|s| match &s.source {
            Source::Phone {
                respondent,
                carrier,
            } => Some(CaseUpdate {
                campaign_id: s.campaign_id.clone(),
                respondent: respondent.0,
                unit_id: s.unit_id.clone(),
                carrier: carrier.as_i16(),
                outcome: Outcome {
                    disposition: Disposition::Complete,
                    at: s.ended_at,
                },
            }),
            Source::Visit { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::RespondentHash;
    use crate::domain::time::Timestamp;
    use crate::store::CommitOutcome;

    fn poll(id: u128, respondent: u8) -> NewSubmission {
        NewSubmission {
            id: Uuid::from_u128(id),
            campaign_id: CampaignId::parse("c1").unwrap(),
            unit_id: UnitId::parse("u1").unwrap(),
            source: Source::Phone {
                respondent: RespondentHash([respondent; 32]),
                carrier: Carrier::ChinaMobile,
            },
            started_at: Timestamp::from_micros(1),
            ended_at: Timestamp::from_micros(2),
            answers: Vec::new(),
            attributes: BTreeMap::new(),
            stratum: Stratum::default(),
            grievances: Vec::new(),
            flags: Vec::new(),
            submitted_by: "seat-1".into(),
        }
    }

    #[test]
    fn new_submissions_leave_out_stored_ids_and_second_interviews() {
        let campaign = CampaignId::parse("c1").unwrap();
        let polls = [poll(1, 1), poll(2, 2), poll(3, 3), poll(4, 3), poll(5, 4)];
        let batch: Vec<&NewSubmission> = polls.iter().collect();
        let stored = CommitOutcome::Inserted {
            accepted_at: Timestamp::from_micros(9),
            state: ReviewState::Received,
            flags: Vec::new(),
        };
        // Id 1 is a retry; respondent 4 was interviewed under another id before.
        let existing = HashMap::from([((campaign.clone(), Uuid::from_u128(1)), stored)]);
        let interviewed = HashSet::from([(campaign.clone(), [4; 32])]);
        let new = new_submissions(&batch, &existing, &interviewed);
        // Respondent 3 twice in the batch: the first in batch order is the interview.
        let expected: HashSet<_> = [2, 3]
            .map(|id| (campaign.clone(), Uuid::from_u128(id)))
            .into();
        assert_eq!(new, expected);
    }

    fn moments(valid: i64, excluded: i64, sum: i64, sum_sq: i64) -> Moments {
        Moments {
            valid,
            excluded,
            sum,
            sum_sq,
            top_three: 0,
        }
    }

    #[test]
    fn stored_forms_round_trip_and_reject_partial_indicators() {
        let figures = Figures {
            submissions: 5,
            indicators: vec![
                Moments {
                    top_three: 3,
                    ..moments(4, 1, 300, 23000)
                },
                moments(5, 0, 0, 0),
            ],
        };
        assert_eq!(flat_moments(&figures), vec![4, 1, 300, 23000, 5, 0, 0, 0]);
        assert_eq!(flat_top_three(&figures), vec![3, 0]);
        assert_eq!(
            figures_from_flat(5, &flat_moments(&figures), &flat_top_three(&figures)).unwrap(),
            figures
        );
        assert_eq!(
            figures_from_json(5, &moments_json(&figures), &top_three_json(&figures)).unwrap(),
            figures
        );
        // Counts stored for fewer indicators than the moments (or none) are zeros beyond.
        assert_eq!(
            figures_from_flat(5, &flat_moments(&figures), &[3]).unwrap(),
            figures
        );
        assert!(figures_from_flat(1, &[1, 2, 3], &[]).is_err());
        assert!(figures_from_json(1, "[1,2,3,4,5]", "[]").is_err());
        assert!(figures_from_json(1, "not json", "[]").is_err());
        assert!(figures_from_json(1, "[]", "not json").is_err());
    }

    #[test]
    fn a_rejection_takes_back_exactly_what_the_acceptance_added() {
        let row = CountedRow {
            campaign_id: CampaignId::parse("c").unwrap(),
            unit_id: UnitId::parse("u").unwrap(),
            channel: Channel::Visit,
            carrier: None,
            stratum: Stratum::default(),
            answers: vec![
                (0, Moments::of_answer(Some(80), true)),
                (2, Moments::of_answer(None, false)),
            ],
        };
        let added = Deltas::of_stored(std::slice::from_ref(&row), 1);
        let removed = Deltas::of_stored(&[row], -1);
        let mut total = Figures::default();
        for deltas in [&added, &removed] {
            let (_, figures) = deltas.sorted()[0];
            total.add(figures);
        }
        assert_eq!(total.submissions, 0);
        assert!(total.indicators.iter().all(|m| *m == Moments::default()));
        let (_, figures) = added.sorted()[0];
        assert_eq!(
            figures.indicators,
            vec![
                Moments {
                    top_three: 1,
                    ..moments(1, 0, 80, 6400)
                },
                Moments::default(),
                moments(0, 1, 0, 0)
            ]
        );
    }

    #[test]
    fn top_three_counts_come_from_the_submissions_that_count() {
        let options =
            [("a", 100), ("b", 80), ("c", 50), ("d", 20), ("e", 0)].map(|(code, points)| {
                AnswerOption {
                    code: Code::parse(code).unwrap(),
                    label: String::new(),
                    value: OptionValue::Points(points),
                }
            });
        let questionnaire = Questionnaire {
            id: crate::domain::ids::QuestionnaireId::parse("q").unwrap(),
            name: "q".into(),
            indicators: vec![Indicator {
                code: Code::parse("security").unwrap(),
                text: String::new(),
                weight: 1.0,
                options: options.to_vec(),
            }],
            created_at: Timestamp::from_micros(0),
        };
        let campaign = Campaign::for_tests("c", &questionnaire.id, "u");
        let stored = |option: &str, state: ReviewState| StoredContribution {
            unit_id: "u".into(),
            channel: Channel::Visit.as_i16(),
            carrier: NO_CARRIER,
            answers: format!(r#"{{"security":"{option}"}}"#),
            respondent_attributes: "{}".into(),
            review_state: state.as_i16(),
        };
        let rows = [
            stored("a", ReviewState::Received),
            stored("c", ReviewState::Approved),
            stored("d", ReviewState::Received),
            // Waiting for review, or rejected: not in the aggregates.
            stored("b", ReviewState::Flagged),
            stored("a", ReviewState::Rejected),
        ];
        let mut count = TopThreeCount::new(&campaign, &questionnaire);
        for row in &rows {
            count.add(row).unwrap();
        }
        let counts = count.rows();
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].1, vec![2]);
    }
}
