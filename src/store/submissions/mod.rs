//! Submissions and the batch commit: what both dialects agree on. A batch goes in one
//! transaction with its aggregate deltas, grievances and call-case updates; each store then
//! reports what its database found for each id, and the ingest pipeline judges retries.

pub mod postgres;
pub mod sqlite;

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use super::values::{Flags, hash32};
use crate::domain::flags::Flag;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::review::ReviewState;
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::error::Result;

/// What the database holds for a submission id after a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Newly written in this transaction, in this review state.
    Inserted {
        accepted_at: Timestamp,
        state: ReviewState,
        flags: Vec<Flag>,
    },
    /// Already present, written earlier with this content hash.
    Existing {
        content_hash: [u8; 32],
        accepted_at: Timestamp,
        state: ReviewState,
        flags: Vec<Flag>,
    },
    /// Not written: the campaign already holds an interview of this phone respondent under
    /// another submission id (the database's one-interview-per-respondent constraint).
    RespondentTaken,
}

/// A household visited in a campaign: (campaign, unit, household reference).
pub type HouseholdKey = (CampaignId, UnitId, String);

pub fn household_key(s: &NewSubmission) -> Option<HouseholdKey> {
    let household = s.source.household_ref()?;
    Some((
        s.campaign_id.clone(),
        s.unit_id.clone(),
        household.to_owned(),
    ))
}

/// The review state and flags a submission is stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub state: ReviewState,
    pub flags: Vec<Flag>,
}

/// Decides each item's admission, in batch order, given the households the database holds
/// visits of already.
pub type Admit<'a> =
    &'a (dyn Fn(&[&NewSubmission], &HashSet<HouseholdKey>) -> Vec<Admission> + Sync);

/// A submission of the batch with its admission.
pub struct Admitted<'a> {
    pub submission: &'a NewSubmission,
    pub admission: Admission,
}

pub fn admitted<'a>(batch: &[&'a NewSubmission], admissions: Vec<Admission>) -> Vec<Admitted<'a>> {
    batch
        .iter()
        .zip(admissions)
        .map(|(submission, admission)| Admitted {
            submission,
            admission,
        })
        .collect()
}

/// Answers as stored: a JSON object, indicator code -> option code.
pub fn answers_json(submission: &NewSubmission) -> String {
    let map: BTreeMap<&str, &str> = submission
        .answers
        .iter()
        .map(|a| (a.indicator.as_str(), a.option.as_str()))
        .collect();
    serde_json::to_string(&map).expect("answer JSON always serialises")
}

/// Respondent attributes as stored: a JSON object.
pub fn attributes_json(attributes: &BTreeMap<String, String>) -> String {
    serde_json::to_string(attributes).expect("attribute JSON always serialises")
}

/// A submission stored before, as a retry of it reads it back.
#[derive(sqlx::FromRow)]
pub struct ExistingRow {
    campaign_id: CampaignId,
    submission_id: Uuid,
    content_hash: Vec<u8>,
    accepted_at: Timestamp,
    review_state: ReviewState,
    quality_flags: Flags,
}

impl ExistingRow {
    pub fn into_outcome(self) -> Result<((CampaignId, Uuid), CommitOutcome)> {
        Ok((
            (self.campaign_id, self.submission_id),
            CommitOutcome::Existing {
                content_hash: hash32(self.content_hash, "content hash")?,
                accepted_at: self.accepted_at,
                state: self.review_state,
                flags: self.quality_flags.0,
            },
        ))
    }
}

/// What each item of the batch found: inserted now, present from before (by id), or left out
/// because its phone respondent was already interviewed.
pub fn outcomes(
    admitted: Vec<Admitted<'_>>,
    is_new: impl Fn(&NewSubmission) -> bool,
    existing: &HashMap<(CampaignId, Uuid), CommitOutcome>,
    accepted_at: Timestamp,
) -> Vec<CommitOutcome> {
    admitted
        .into_iter()
        .map(|a| {
            let s = a.submission;
            if is_new(s) {
                CommitOutcome::Inserted {
                    accepted_at,
                    state: a.admission.state,
                    flags: a.admission.flags,
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
