//! Retries, judged in one place. The database decides which submission owns an id (a unique
//! key on (campaign, submission id); two servers may share one database); the store reports
//! what it found, and this module tells each caller what that means: the same content is a
//! retry and hears the acknowledgement as it stands now (the original accept time and flags,
//! the current review state, so that an app can show a reviewer's decision), other content
//! under a taken id is refused.

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::ids::CampaignId;
use crate::domain::submission::{Acknowledgement, NewSubmission};
use crate::error::{Error, Result};
use crate::store::CommitOutcome;

/// The distinct (campaign, id) submissions of a batch, in order, and for each item the index
/// of its id's first occurrence: the one the database sees. Later copies in the same batch
/// are judged against it, exactly as a later retry would be.
pub fn first_occurrences<'a>(
    batch: impl IntoIterator<Item = &'a NewSubmission>,
) -> (Vec<&'a NewSubmission>, Vec<usize>) {
    let mut first_of: HashMap<(&CampaignId, Uuid), usize> = HashMap::new();
    let mut unique = Vec::new();
    let slots = batch
        .into_iter()
        .map(|s| {
            *first_of.entry((&s.campaign_id, s.id)).or_insert_with(|| {
                unique.push(s);
                unique.len() - 1
            })
        })
        .collect();
    (unique, slots)
}

/// What one caller hears about its submission, given what the database holds for the id.
///
/// `written` is the batch's first submission with this id: the one the database saw. A retry
/// hears the stored review state, which a review may have changed since the first commit.
///
/// # Errors
/// ALREADY_EXISTS when the id holds other content (SUBMISSION_ID_REUSED), or when the
/// campaign already holds an interview of the respondent (RESPONDENT_ALREADY_INTERVIEWED).
pub fn acknowledgement(
    submission: &NewSubmission,
    outcome: &CommitOutcome,
    written: &NewSubmission,
) -> Result<Acknowledgement> {
    let (matches, accepted_at, state, flags) = match outcome {
        CommitOutcome::Inserted {
            accepted_at,
            state,
            flags,
        } => {
            let same = std::ptr::eq(submission, written)
                || submission.content_hash() == written.content_hash();
            (same, accepted_at, state, flags)
        }
        CommitOutcome::Existing {
            content_hash,
            accepted_at,
            state,
            flags,
        } => (
            submission.content_hash() == *content_hash,
            accepted_at,
            state,
            flags,
        ),
        CommitOutcome::RespondentTaken => {
            return Err(Error::AlreadyExists {
                reason: "RESPONDENT_ALREADY_INTERVIEWED",
                message: "this phone number was already interviewed in the campaign; \
                          one interview per respondent"
                    .into(),
            });
        }
    };
    if matches {
        Ok(Acknowledgement {
            submission_id: submission.id,
            accepted_at: *accepted_at,
            review_state: *state,
            flags: flags.clone(),
        })
    } else {
        Err(Error::AlreadyExists {
            reason: "SUBMISSION_ID_REUSED",
            message: format!(
                "submission {} was already accepted with different content; use a new submission_id",
                submission.id
            ),
        })
    }
}
