//! The named data-quality flags a submission can carry.

/// A data-quality check a submission failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// Interview shorter than the campaign allows for the number of questions answered.
    TooFast,
    /// GPS fix outside the unit's area (centre and radius).
    OutsideUnitArea,
    /// GPS accuracy worse than the campaign allows.
    PoorGpsAccuracy,
    /// The same household was already visited in this campaign.
    DuplicateHousehold,
    /// Uploaded long after the interview ended.
    LateUpload,
}

impl Flag {
    pub const ALL: [Flag; 5] = [
        Self::TooFast,
        Self::OutsideUnitArea,
        Self::PoorGpsAccuracy,
        Self::DuplicateHousehold,
        Self::LateUpload,
    ];

    /// The wire enum's name, also the stored form.
    pub fn name(self) -> &'static str {
        match self {
            Self::TooFast => "QUALITY_FLAG_TOO_FAST",
            Self::OutsideUnitArea => "QUALITY_FLAG_OUTSIDE_UNIT_AREA",
            Self::PoorGpsAccuracy => "QUALITY_FLAG_POOR_GPS_ACCURACY",
            Self::DuplicateHousehold => "QUALITY_FLAG_DUPLICATE_HOUSEHOLD",
            Self::LateUpload => "QUALITY_FLAG_LATE_UPLOAD",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_found_by_their_names() {
        for flag in Flag::ALL {
            assert_eq!(Flag::from_name(flag.name()), Some(flag));
        }
        assert_eq!(Flag::from_name(""), None);
    }
}
