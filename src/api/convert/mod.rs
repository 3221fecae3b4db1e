//! The boundary: wire messages become validated domain values here (naming every offending
//! field), and domain values become wire messages.

use std::collections::{BTreeMap, HashSet};

use prost_types::Timestamp as PbTimestamp;

use crate::domain::campaign::{Campaign, DEFAULT_MIN_SAMPLE};
use crate::domain::channel::{Carrier, Channel};
use crate::domain::flags::Flag;
use crate::domain::geo::{Area, GeoLocation, parse_accuracy, parse_latitude, parse_longitude};
use crate::domain::grievance::{NewGrievance, Urgency};
use crate::domain::ids::{CampaignId, Code, QuestionnaireId, UnitId, parse_name};
use crate::domain::intake::SubmissionDraft;
use crate::domain::peers::PeerGroup;
use crate::domain::phone::{PhoneHasher, PhoneNumber};
use crate::domain::quality::QualityRules;
use crate::domain::questionnaire::{
    AnswerOption, Indicator, OptionValue, Questionnaire, parse_points, parse_weight,
};
use crate::domain::ranking::{IndicatorStanding, RankingRow};
use crate::domain::review::ReviewState;
use crate::domain::scoring::{Breakdown, IndicatorScore, StratumWeight, UnitScore};
use crate::domain::submission::{Acknowledgement, Source, parse_submission_id};
use crate::domain::time::Timestamp;
use crate::domain::unit::{Unit, UnitKind};
use crate::domain::weighting::{
    Margin, Method, WeightedEstimate, Weighting, shares_of_populations,
};
use crate::error::{Error, Result, Violations};
use crate::proto::v1 as pb;

/// Most answers one submission may carry.
const MAX_ANSWERS: usize = 500;
const MAX_HOUSEHOLD_REF_CHARS: usize = 128;
const MAX_ATTRIBUTES: usize = 16;
const MAX_GRIEVANCES: usize = 20;
const MAX_GRIEVANCE_CHARS: usize = 2000;
const MAX_ATTRIBUTE_VALUE_CHARS: usize = 64;
/// How far a margin's shares may sum from 1. Offices copy shares from published tables,
/// rounded: k levels rounded to 4 decimals are off by at most k · 0.00005 in sum (0.00015 for
/// the three carriers, whose 0.0881 + 0.5471 + 0.3647 = 0.9999), so 0.001 passes 4-decimal
/// rounding of up to 20 levels, while a mistyped or forgotten level (0.45 + 0.54) is still
/// refused. Weights use the shares rescaled to sum to 1.
const SHARE_SUM_TOLERANCE: f64 = 1e-3;

pub fn timestamp_to_proto(t: Timestamp) -> PbTimestamp {
    PbTimestamp {
        seconds: t.seconds(),
        nanos: t.subsec_nanos(),
    }
}

fn timestamp(value: Option<&PbTimestamp>) -> Result<Timestamp, String> {
    let t = value.ok_or("is required")?;
    Timestamp::from_parts(t.seconds, t.nanos)
}

/// Parses the (campaign, unit) pair many requests name.
///
/// # Errors
/// INVALID_ARGUMENT naming each malformed id.
pub fn campaign_and_unit(campaign_id: &str, unit_id: &str) -> Result<(CampaignId, UnitId)> {
    let mut v = Violations::new();
    let campaign = v.check("campaign_id", CampaignId::parse(campaign_id));
    let unit = v.check("unit_id", UnitId::parse(unit_id));
    v.into_result(|| campaign.zip(unit))
}

/// An optional reference: empty means none.
fn optional_id<T>(
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

pub fn unit_kind(value: i32) -> Result<UnitKind, String> {
    match pb::UnitKind::try_from(value) {
        Ok(pb::UnitKind::City) => Ok(UnitKind::City),
        Ok(pb::UnitKind::Township) => Ok(UnitKind::Township),
        Ok(pb::UnitKind::Subdistrict) => Ok(UnitKind::Subdistrict),
        Ok(pb::UnitKind::Village) => Ok(UnitKind::Village),
        Ok(pb::UnitKind::Community) => Ok(UnitKind::Community),
        Ok(pb::UnitKind::Department) => Ok(UnitKind::Department),
        Ok(pb::UnitKind::Province) => Ok(UnitKind::Province),
        Ok(pb::UnitKind::Prefecture) => Ok(UnitKind::Prefecture),
        Ok(pb::UnitKind::County) => Ok(UnitKind::County),
        Ok(pb::UnitKind::Unspecified) | Err(_) => {
            Err("must be a unit kind other than UNSPECIFIED".into())
        }
    }
}

fn unit_kind_to_proto(kind: UnitKind) -> pb::UnitKind {
    match kind {
        UnitKind::City => pb::UnitKind::City,
        UnitKind::Township => pb::UnitKind::Township,
        UnitKind::Subdistrict => pb::UnitKind::Subdistrict,
        UnitKind::Village => pb::UnitKind::Village,
        UnitKind::Community => pb::UnitKind::Community,
        UnitKind::Department => pb::UnitKind::Department,
        UnitKind::Province => pb::UnitKind::Province,
        UnitKind::Prefecture => pb::UnitKind::Prefecture,
        UnitKind::County => pb::UnitKind::County,
    }
}

pub fn carrier(value: i32) -> Result<Carrier, String> {
    match pb::Carrier::try_from(value) {
        Ok(pb::Carrier::ChinaMobile) => Ok(Carrier::ChinaMobile),
        Ok(pb::Carrier::ChinaTelecom) => Ok(Carrier::ChinaTelecom),
        Ok(pb::Carrier::ChinaUnicom) => Ok(Carrier::ChinaUnicom),
        Ok(pb::Carrier::ChinaBroadnet) => Ok(Carrier::ChinaBroadnet),
        Ok(pb::Carrier::Other) => Ok(Carrier::Other),
        Ok(pb::Carrier::Unspecified) | Err(_) => {
            Err("must be a carrier other than UNSPECIFIED".into())
        }
    }
}

pub fn channel_to_proto(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Visit => pb::Channel::Visit,
        Channel::Phone => pb::Channel::Phone,
    }
}

pub fn carrier_to_proto(carrier: Option<Carrier>) -> pb::Carrier {
    match carrier {
        None => pb::Carrier::Unspecified,
        Some(Carrier::ChinaMobile) => pb::Carrier::ChinaMobile,
        Some(Carrier::ChinaTelecom) => pb::Carrier::ChinaTelecom,
        Some(Carrier::ChinaUnicom) => pb::Carrier::ChinaUnicom,
        Some(Carrier::ChinaBroadnet) => pb::Carrier::ChinaBroadnet,
        Some(Carrier::Other) => pb::Carrier::Other,
    }
}

mod audit;
mod auth;
mod briefing;
mod callcenter;
mod campaigns;
mod export;
mod masks;
mod questionnaires;
mod review;
mod scores;
mod submission;
mod units;
mod weighting;

pub use audit::*;
pub use auth::*;
pub use briefing::*;
pub use callcenter::*;
pub use campaigns::*;
pub use export::*;
pub use questionnaires::*;
pub use review::*;
pub use scores::*;
pub use submission::*;
pub use units::*;
