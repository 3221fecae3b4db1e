//! Data-quality checks run on every submission at ingest. A failed check adds a named flag; a
//! flagged submission is kept (never lost) but waits for review before it counts.

use super::flags::Flag;
use super::geo::{Area, GeoLocation, distance_meters};
use super::time::Timestamp;

/// Per-campaign thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityRules {
    /// An interview must last at least this long per answered question.
    pub min_seconds_per_answer: u32,
    /// GPS fixes less accurate than this are flagged.
    pub max_gps_accuracy_meters: f64,
    /// Submissions uploaded later than this after the interview ended are flagged.
    pub max_upload_delay_hours: u32,
}

impl Default for QualityRules {
    fn default() -> Self {
        Self {
            min_seconds_per_answer: 3,
            max_gps_accuracy_meters: 100.0,
            max_upload_delay_hours: 72,
        }
    }
}

/// What the checks look at.
pub struct Interview<'a> {
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub answers: usize,
    pub location: Option<&'a GeoLocation>,
    /// The area of the unit (or its nearest ancestor that has one).
    pub area: Option<Area>,
}

/// The checks that need nothing but the submission itself; the duplicate-household check needs
/// the database and runs in the commit.
pub fn check(rules: &QualityRules, interview: &Interview<'_>, received_at: Timestamp) -> Vec<Flag> {
    let mut flags = Vec::new();
    let seconds = (interview.ended_at.as_micros() - interview.started_at.as_micros()) / 1_000_000;
    if seconds < i64::from(rules.min_seconds_per_answer) * interview.answers as i64 {
        flags.push(Flag::TooFast);
    }
    if let Some(location) = interview.location {
        if let Some(area) = interview.area {
            let distance = distance_meters(
                location.latitude,
                location.longitude,
                area.latitude,
                area.longitude,
            );
            if distance > area.radius_meters {
                flags.push(Flag::OutsideUnitArea);
            }
        }
        if location.accuracy_meters > rules.max_gps_accuracy_meters {
            flags.push(Flag::PoorGpsAccuracy);
        }
    }
    let delay = received_at.as_micros() - interview.ended_at.as_micros();
    if delay > i64::from(rules.max_upload_delay_hours) * 3_600_000_000 {
        flags.push(Flag::LateUpload);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    fn interview(
        seconds: i64,
        location: Option<&GeoLocation>,
        area: Option<Area>,
    ) -> Interview<'_> {
        Interview {
            started_at: at(0),
            ended_at: at(seconds),
            answers: 10,
            location,
            area,
        }
    }

    #[test]
    fn a_clean_interview_raises_nothing() {
        let here = GeoLocation {
            latitude: 29.87,
            longitude: 121.55,
            accuracy_meters: 10.0,
        };
        let area = Area {
            latitude: 29.87,
            longitude: 121.55,
            radius_meters: 500.0,
        };
        assert!(
            check(
                &QualityRules::default(),
                &interview(600, Some(&here), Some(area)),
                at(700)
            )
            .is_empty()
        );
    }

    #[test]
    fn each_check_raises_its_own_flag() {
        let rules = QualityRules::default();
        assert_eq!(
            check(&rules, &interview(29, None, None), at(30)),
            [Flag::TooFast]
        );
        let far = GeoLocation {
            latitude: 29.90,
            longitude: 121.55,
            accuracy_meters: 10.0,
        };
        let area = Area {
            latitude: 29.87,
            longitude: 121.55,
            radius_meters: 1000.0,
        };
        assert_eq!(
            check(&rules, &interview(600, Some(&far), Some(area)), at(600)),
            [Flag::OutsideUnitArea]
        );
        let vague = GeoLocation {
            latitude: 29.87,
            longitude: 121.55,
            accuracy_meters: 250.0,
        };
        assert_eq!(
            check(&rules, &interview(600, Some(&vague), None), at(600)),
            [Flag::PoorGpsAccuracy]
        );
        assert_eq!(
            check(&rules, &interview(600, None, None), at(600 + 73 * 3600)),
            [Flag::LateUpload]
        );
    }
}
