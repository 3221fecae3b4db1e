//! How an interview was collected: in person or by phone, and over which carrier.

/// How the interview was collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Visit,
    Phone,
}

impl Channel {
    /// The wire enum's name, used as the level name when weighting by channel.
    pub fn name(self) -> &'static str {
        match self {
            Self::Visit => "CHANNEL_VISIT",
            Self::Phone => "CHANNEL_PHONE",
        }
    }
}

/// Mobile network operator of a phone respondent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Carrier {
    ChinaMobile,
    ChinaTelecom,
    ChinaUnicom,
    ChinaBroadnet,
    Other,
}

impl Carrier {
    pub const ALL: [Carrier; 5] = [
        Self::ChinaMobile,
        Self::ChinaTelecom,
        Self::ChinaUnicom,
        Self::ChinaBroadnet,
        Self::Other,
    ];

    /// The carrier's number in content hashes, which a retry must reproduce exactly as it
    /// was first sent: never renumber.
    pub fn content_code(self) -> i16 {
        match self {
            Self::ChinaMobile => 1,
            Self::ChinaTelecom => 2,
            Self::ChinaUnicom => 3,
            Self::ChinaBroadnet => 4,
            Self::Other => 5,
        }
    }

    /// The wire enum's name, used as the level name when weighting by carrier.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChinaMobile => "CARRIER_CHINA_MOBILE",
            Self::ChinaTelecom => "CARRIER_CHINA_TELECOM",
            Self::ChinaUnicom => "CARRIER_CHINA_UNICOM",
            Self::ChinaBroadnet => "CARRIER_CHINA_BROADNET",
            Self::Other => "CARRIER_OTHER",
        }
    }
}
