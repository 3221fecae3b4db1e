//! The review state a submission is stored in: flagged for review when a quality check failed
//! at the door, or when its household was visited already in the campaign.

use std::collections::HashSet;

use crate::domain::flags::Flag;
use crate::domain::review::ReviewState;
use crate::domain::submission::NewSubmission;
use crate::store::{Admission, HouseholdKey};

/// Admits each submission of a batch, in batch order. A visit is a duplicate when its
/// household holds a visit already (`visited`, as the database says) or an earlier one of the
/// batch.
pub fn admit(batch: &[&NewSubmission], visited: &HashSet<HouseholdKey>) -> Vec<Admission> {
    let mut seen: HashSet<HouseholdKey> = HashSet::new();
    batch
        .iter()
        .map(|s| {
            let mut flags = s.flags.clone();
            if let Some(household) = s.source.household_ref() {
                let key = (
                    s.campaign_id.clone(),
                    s.unit_id.clone(),
                    household.to_owned(),
                );
                if visited.contains(&key) || !seen.insert(key) {
                    flags.push(Flag::DuplicateHousehold);
                }
            }
            flags.sort();
            flags.dedup();
            let state = if flags.is_empty() {
                ReviewState::Received
            } else {
                ReviewState::Flagged
            };
            Admission { state, flags }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{CampaignId, UnitId};
    use crate::domain::submission::Source;

    fn visit(id: u128, household: &str, flags: Vec<Flag>) -> NewSubmission {
        let source = Source::Visit {
            household_ref: household.into(),
            location: None,
        };
        NewSubmission {
            flags,
            ..NewSubmission::for_tests(id, source)
        }
    }

    #[test]
    fn a_household_visited_before_or_earlier_in_the_batch_is_flagged() {
        let visits = [
            visit(1, "h1", vec![]),
            visit(2, "h2", vec![]),
            visit(3, "h1", vec![]),
            visit(4, "h3", vec![Flag::TooFast]),
        ];
        let batch: Vec<&NewSubmission> = visits.iter().collect();
        let visited = HashSet::from([(
            CampaignId::parse("c1").unwrap(),
            UnitId::parse("u1").unwrap(),
            "h2".to_owned(),
        )]);
        let admitted = admit(&batch, &visited);
        let states: Vec<_> = admitted.iter().map(|a| a.state).collect();
        assert_eq!(
            states,
            [
                ReviewState::Received,
                ReviewState::Flagged,
                ReviewState::Flagged,
                ReviewState::Flagged
            ]
        );
        assert_eq!(admitted[1].flags, [Flag::DuplicateHousehold]);
        assert_eq!(admitted[3].flags, [Flag::TooFast]);
    }
}
