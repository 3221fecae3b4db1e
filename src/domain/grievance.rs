//! Problems households raise during visits, and their follow-up.

use uuid::Uuid;

use super::ids::{CampaignId, UnitId};
use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Urgency {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrievanceStatus {
    Open,
    InProgress,
    Resolved,
}

impl Urgency {
    /// The urgency's number in content hashes, which a retry must reproduce exactly as it was
    /// first sent: never renumber.
    pub fn content_code(self) -> i16 {
        match self {
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }
}

/// A grievance as raised in a visit, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrievance {
    /// A short code such as "road_safety" or "noise".
    pub category: String,
    pub description: String,
    pub urgency: Urgency,
}

/// A stored grievance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grievance {
    pub id: String,
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub submission_id: Uuid,
    pub category: String,
    pub description: String,
    pub urgency: Urgency,
    pub status: GrievanceStatus,
    pub raised_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Grievance {
    /// The grievance moved to `status` at `at`. It keeps the time it was first resolved while
    /// it stays resolved; reopened, it is unresolved again.
    pub fn with_status(self, status: GrievanceStatus, at: Timestamp) -> Self {
        let resolved_at = match status {
            GrievanceStatus::Resolved => self.resolved_at.or(Some(at)),
            GrievanceStatus::Open | GrievanceStatus::InProgress => None,
        };
        Self {
            status,
            resolved_at,
            updated_at: at,
            ..self
        }
    }
}

/// The id of the `index`-th grievance of a visit: stable, so a retried visit cannot create
/// the grievance twice.
pub fn grievance_id(submission: Uuid, index: usize) -> String {
    format!("{submission}-{index}")
}

/// Counts and resolution time of a set of grievances.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GrievanceSummary {
    pub raised: u64,
    pub open: u64,
    pub in_progress: u64,
    pub resolved: u64,
    /// Median days from raising to resolution, over resolved grievances.
    pub median_days_to_resolve: Option<f64>,
}

/// Summarises (status, raised_at, resolved_at) triples.
pub fn summarise(
    grievances: &[(GrievanceStatus, Timestamp, Option<Timestamp>)],
) -> GrievanceSummary {
    let mut summary = GrievanceSummary {
        raised: grievances.len() as u64,
        ..Default::default()
    };
    let mut days = Vec::new();
    for (status, raised, resolved) in grievances {
        match status {
            GrievanceStatus::Open => summary.open += 1,
            GrievanceStatus::InProgress => summary.in_progress += 1,
            GrievanceStatus::Resolved => {
                summary.resolved += 1;
                if let Some(resolved) = resolved {
                    days.push((resolved.as_micros() - raised.as_micros()) as f64 / 86_400e6);
                }
            }
        }
    }
    days.sort_by(f64::total_cmp);
    summary.median_days_to_resolve = match days.len() {
        0 => None,
        n if n % 2 == 1 => Some(days[n / 2]),
        n => Some((days[n / 2 - 1] + days[n / 2]) / 2.0),
    };
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_status_and_median_of_resolution_days() {
        let day = |d: i64| Timestamp::from_micros(d * 86_400_000_000);
        let summary = summarise(&[
            (GrievanceStatus::Open, day(0), None),
            (GrievanceStatus::InProgress, day(0), None),
            (GrievanceStatus::Resolved, day(0), Some(day(2))),
            (GrievanceStatus::Resolved, day(1), Some(day(5))),
            (GrievanceStatus::Resolved, day(0), Some(day(10))),
        ]);
        assert_eq!(
            (
                summary.raised,
                summary.open,
                summary.in_progress,
                summary.resolved
            ),
            (5, 1, 1, 3)
        );
        assert_eq!(summary.median_days_to_resolve, Some(4.0));
        let even = summarise(&[
            (GrievanceStatus::Resolved, day(0), Some(day(1))),
            (GrievanceStatus::Resolved, day(0), Some(day(4))),
        ]);
        assert_eq!(even.median_days_to_resolve, Some(2.5));
        assert_eq!(summarise(&[]).median_days_to_resolve, None);
    }

    #[test]
    fn a_resolution_keeps_its_first_time_until_the_grievance_is_reopened() {
        let at = Timestamp::from_micros;
        let raised = Grievance {
            id: "g".into(),
            campaign_id: CampaignId::parse("c").unwrap(),
            unit_id: UnitId::parse("u").unwrap(),
            submission_id: Uuid::from_u128(1),
            category: "road".into(),
            description: String::new(),
            urgency: Urgency::High,
            status: GrievanceStatus::Open,
            raised_at: at(1),
            resolved_at: None,
            updated_at: at(1),
        };
        let resolved = raised.with_status(GrievanceStatus::Resolved, at(5));
        assert_eq!(
            (resolved.resolved_at, resolved.updated_at),
            (Some(at(5)), at(5))
        );
        let again = resolved.with_status(GrievanceStatus::Resolved, at(9));
        assert_eq!((again.resolved_at, again.updated_at), (Some(at(5)), at(9)));
        let reopened = again.with_status(GrievanceStatus::InProgress, at(12));
        assert_eq!(
            (reopened.status, reopened.resolved_at),
            (GrievanceStatus::InProgress, None)
        );
    }
}
