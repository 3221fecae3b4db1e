//! The review workflow of flagged (or any) submissions.

use uuid::Uuid;

use super::channel::Channel;
use super::flags::Flag;
use super::ids::{CampaignId, UnitId};
use super::time::Timestamp;

/// A stored submission as reviewers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionSummary {
    pub submission_id: Uuid,
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub channel: Channel,
    pub state: ReviewState,
    pub flags: Vec<Flag>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub accepted_at: Timestamp,
    pub submitted_by: String,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewAction {
    pub campaign_id: CampaignId,
    pub submission_id: Uuid,
    pub reviewer: String,
    pub decision: Decision,
    pub from: ReviewState,
    pub to: ReviewState,
    pub reason: String,
    pub at: Timestamp,
}

/// Where a submission stands. Only RECEIVED (unflagged) and APPROVED submissions count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewState {
    Received,
    Flagged,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl ReviewState {
    /// Whether the submission's answers are in the aggregates.
    pub fn counts(self) -> bool {
        matches!(self, Self::Received | Self::Approved)
    }

    /// Whether a phone poll in this state is its call case's complete interview: a rejected
    /// one is not an interview; one awaiting review still is.
    pub fn is_interview(self) -> bool {
        self != Self::Rejected
    }

    /// The state a decision leads to, or why it cannot be taken from here.
    pub fn after(self, decision: Decision) -> Result<Self, &'static str> {
        match (self, decision) {
            (Self::Flagged | Self::Rejected, Decision::Approve) => Ok(Self::Approved),
            (Self::Received | Self::Approved, Decision::Approve) => Err(
                "the submission already counts; only flagged or rejected submissions can be approved",
            ),
            (Self::Rejected, Decision::Reject) => Err("the submission is already rejected"),
            (_, Decision::Reject) => Ok(Self::Rejected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_received_and_approved_count() {
        assert!(ReviewState::Received.counts() && ReviewState::Approved.counts());
        assert!(!ReviewState::Flagged.counts() && !ReviewState::Rejected.counts());
    }

    #[test]
    fn every_state_but_rejected_is_an_interview() {
        use ReviewState::*;
        assert!(Received.is_interview() && Flagged.is_interview() && Approved.is_interview());
        assert!(!Rejected.is_interview());
    }

    #[test]
    fn transitions() {
        use Decision::*;
        use ReviewState::*;
        assert_eq!(Flagged.after(Approve), Ok(Approved));
        assert_eq!(Flagged.after(Reject), Ok(Rejected));
        assert_eq!(Received.after(Reject), Ok(Rejected));
        assert_eq!(Rejected.after(Approve), Ok(Approved));
        assert!(Received.after(Approve).is_err());
        assert!(Rejected.after(Reject).is_err());
    }
}
