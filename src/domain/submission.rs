//! Validated submissions, ready for the ingest pipeline.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::cells::Stratum;
use super::channel::{Carrier, Channel};
use super::flags::Flag;
use super::geo::GeoLocation;
use super::grievance::NewGrievance;
use super::ids::{CampaignId, Code, UnitId};
use super::phone::RespondentHash;
use super::review::ReviewState;
use super::time::Timestamp;

/// Parses a client-generated submission id: any RFC 4122 UUID except nil.
pub fn parse_submission_id(value: &str) -> Result<Uuid, String> {
    match Uuid::try_parse(value) {
        Ok(id) if !id.is_nil() => Ok(id),
        _ => Err(
            "must be a UUID such as 0190f5c2-7d3e-7c1a-9b1e-2f6d4c8a9e01 (UUIDv7 recommended)"
                .into(),
        ),
    }
}

/// Channel-specific facts of a submission.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Visit {
        household_ref: String,
        location: Option<GeoLocation>,
    },
    Phone {
        respondent: RespondentHash,
        carrier: Carrier,
    },
}

impl Source {
    pub fn channel(&self) -> Channel {
        match self {
            Self::Visit { .. } => Channel::Visit,
            Self::Phone { .. } => Channel::Phone,
        }
    }

    pub fn carrier(&self) -> Option<Carrier> {
        match self {
            Self::Visit { .. } => None,
            Self::Phone { carrier, .. } => Some(*carrier),
        }
    }

    /// The household a visit went to; `None` for a phone poll.
    pub fn household_ref(&self) -> Option<&str> {
        match self {
            Self::Visit { household_ref, .. } => Some(household_ref),
            Self::Phone { .. } => None,
        }
    }

    /// The respondent a phone poll reached; `None` for a visit.
    pub fn respondent(&self) -> Option<&RespondentHash> {
        match self {
            Self::Visit { .. } => None,
            Self::Phone { respondent, .. } => Some(respondent),
        }
    }
}

/// One answer, resolved against the questionnaire: `points` is `None` for "don't know" and
/// "refused", which count in no score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoredAnswer {
    pub indicator: Code,
    /// The indicator's place in the questionnaire: stored aggregates are kept in that order.
    pub position: usize,
    pub option: Code,
    pub points: Option<u8>,
    /// One of the indicator's top three options ([`Indicator::is_top_three`]).
    ///
    /// [`Indicator::is_top_three`]: super::questionnaire::Indicator::is_top_three
    pub top_three: bool,
}

/// A validated submission whose campaign, unit and answer codes are known to exist.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubmission {
    pub id: Uuid,
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub source: Source,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    /// Sorted by indicator code, at most one per indicator.
    pub answers: Vec<ScoredAnswer>,
    /// Respondent attributes as sent (e.g. age band), kept for re-weighting later.
    pub attributes: BTreeMap<String, String>,
    /// The attributes the campaign weights by: the stratum the aggregates are kept under.
    pub stratum: Stratum,
    /// Problems the household raised (visits only).
    pub grievances: Vec<NewGrievance>,
    /// Quality checks that failed at the door; the commit may add a duplicate-household flag.
    pub flags: Vec<Flag>,
    /// The token subject that submitted it (for audit, not part of the content).
    pub submitted_by: String,
}

impl NewSubmission {
    /// SHA-256 over a canonical encoding of everything the client sent, so that a retry can be
    /// told from a different submission reusing the same id.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(self.id.as_bytes());
        field(self.campaign_id.as_str().as_bytes());
        field(self.unit_id.as_str().as_bytes());
        field(&self.started_at.as_micros().to_le_bytes());
        field(&self.ended_at.as_micros().to_le_bytes());
        match &self.source {
            Source::Visit {
                household_ref,
                location,
            } => {
                field(b"visit");
                field(household_ref.as_bytes());
                if let Some(l) = location {
                    for v in [l.latitude, l.longitude, l.accuracy_meters] {
                        field(&v.to_bits().to_le_bytes());
                    }
                }
            }
            Source::Phone {
                respondent,
                carrier,
            } => {
                field(b"phone");
                field(&respondent.0);
                field(&carrier.content_code().to_le_bytes());
            }
        }
        for answer in &self.answers {
            field(answer.indicator.as_str().as_bytes());
            field(answer.option.as_str().as_bytes());
        }
        for (name, value) in &self.attributes {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        for g in &self.grievances {
            field(g.category.as_bytes());
            field(g.description.as_bytes());
            field(&g.urgency.content_code().to_le_bytes());
        }
        h.finalize().into()
    }
}

/// The receipt for a durable submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub submission_id: Uuid,
    pub accepted_at: Timestamp,
    pub review_state: ReviewState,
    pub flags: Vec<Flag>,
}

#[cfg(test)]
impl NewSubmission {
    /// Submission `id` to campaign c1 from unit u1, with no answers or flags.
    pub(crate) fn for_tests(id: u128, source: Source) -> Self {
        Self {
            id: Uuid::from_u128(id),
            campaign_id: CampaignId::parse("c1").unwrap(),
            unit_id: UnitId::parse("u1").unwrap(),
            source,
            started_at: Timestamp::from_micros(1),
            ended_at: Timestamp::from_micros(2),
            answers: Vec::new(),
            attributes: BTreeMap::new(),
            stratum: Stratum::default(),
            grievances: Vec::new(),
            flags: Vec::new(),
            submitted_by: "worker-1".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewSubmission {
        NewSubmission {
            answers: vec![ScoredAnswer {
                indicator: Code::parse("security").unwrap(),
                position: 0,
                option: Code::parse("good").unwrap(),
                points: Some(80),
                top_three: true,
            }],
            ..NewSubmission::for_tests(
                7,
                Source::Visit {
                    household_ref: "h-1".into(),
                    location: None,
                },
            )
        }
    }

    #[test]
    fn content_hash_ignores_the_submitter_but_not_the_answers() {
        let a = sample();
        let mut b = sample();
        b.submitted_by = "worker-2".into();
        assert_eq!(a.content_hash(), b.content_hash());
        b.answers[0].option = Code::parse("bad").unwrap();
        assert_ne!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn submission_ids_must_be_non_nil_uuids() {
        assert!(parse_submission_id("0190f5c2-7d3e-7c1a-9b1e-2f6d4c8a9e01").is_ok());
        assert!(parse_submission_id("00000000-0000-0000-0000-000000000000").is_err());
        assert!(parse_submission_id("visit-1").is_err());
    }
}
