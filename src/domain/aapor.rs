//! Call outcomes and AAPOR response rates (Standard Definitions, telephone surveys).

use std::cmp::Reverse;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::channel::Carrier;
use super::ids::{CampaignId, UnitId};
use super::phone::RespondentHash;
use super::time::Timestamp;

/// The outcome of one call attempt, final or interim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Disposition {
    /// 1.1 complete interview.
    Complete,
    /// 1.2 partial interview.
    Partial,
    /// 2.11 refusal.
    Refusal,
    /// 2.12 break-off.
    BreakOff,
    /// 2.21 respondent never available.
    NonContact,
    /// 2.22 answering machine at a known household, message left.
    AnsweringMachineHousehold,
    /// Interim: appointment made; final as a non-contact if nothing follows.
    Callback,
    /// 2.33 language barrier.
    LanguageBarrier,
    /// 2.3x other non-interview (illness, incapacity).
    OtherNonInterview,
    /// 3.12 always busy.
    Busy,
    /// 3.13 no answer.
    NoAnswer,
    /// 3.14 answering machine, household unknown.
    AnsweringMachine,
    /// 3.9 other unknown eligibility.
    UnknownEligibility,
    /// 4.32 fax or data line.
    FaxOrDataLine,
    /// 4.31 non-working or disconnected number.
    Disconnected,
    /// 4.51 business or other non-residence.
    NonResidential,
    /// 4.7 no eligible respondent.
    NoEligibleRespondent,
    /// 4.8 quota filled.
    QuotaFilled,
}

/// A validated call attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCallAttempt {
    pub id: Uuid,
    pub campaign_id: CampaignId,
    pub unit_id: UnitId,
    pub respondent: RespondentHash,
    pub carrier: Carrier,
    pub disposition: Disposition,
    pub attempted_at: Timestamp,
    pub submitted_by: String,
}

impl NewCallAttempt {
    /// SHA-256 over what the client sent, to tell a retry from a reused id.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.id.as_bytes());
        for part in [self.campaign_id.as_str(), self.unit_id.as_str()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(self.respondent.0);
        h.update(self.carrier.content_code().to_le_bytes());
        h.update(self.disposition.content_code().to_le_bytes());
        h.update(self.attempted_at.as_micros().to_le_bytes());
        h.finalize().into()
    }
}

/// What the store holds for an attempt id after recording it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Inserted {
        accepted_at: Timestamp,
        case: Disposition,
    },
    Existing {
        content_hash: [u8; 32],
        accepted_at: Timestamp,
        case: Disposition,
    },
}

/// AAPOR's case groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Complete interviews.
    I,
    /// Partial interviews.
    P,
    /// Refusals and break-offs.
    R,
    /// Non-contacts.
    Nc,
    /// Other eligible non-interviews.
    O,
    /// Unknown if household.
    Uh,
    /// Other unknown eligibility.
    Uo,
    /// Not eligible.
    Ne,
}

impl Disposition {
    pub const ALL: [Disposition; 18] = [
        Self::Complete,
        Self::Partial,
        Self::Refusal,
        Self::BreakOff,
        Self::NonContact,
        Self::AnsweringMachineHousehold,
        Self::Callback,
        Self::LanguageBarrier,
        Self::OtherNonInterview,
        Self::Busy,
        Self::NoAnswer,
        Self::AnsweringMachine,
        Self::UnknownEligibility,
        Self::FaxOrDataLine,
        Self::Disconnected,
        Self::NonResidential,
        Self::NoEligibleRespondent,
        Self::QuotaFilled,
    ];

    pub fn group(self) -> Group {
        match self {
            Self::Complete => Group::I,
            Self::Partial => Group::P,
            Self::Refusal | Self::BreakOff => Group::R,
            Self::NonContact | Self::AnsweringMachineHousehold | Self::Callback => Group::Nc,
            Self::LanguageBarrier | Self::OtherNonInterview => Group::O,
            Self::Busy | Self::NoAnswer | Self::AnsweringMachine => Group::Uh,
            Self::UnknownEligibility => Group::Uo,
            Self::FaxOrDataLine
            | Self::Disconnected
            | Self::NonResidential
            | Self::NoEligibleRespondent
            | Self::QuotaFilled => Group::Ne,
        }
    }

    /// The disposition's number in content hashes (its place in [`Self::ALL`], from 1), which
    /// a retry must reproduce exactly as it was first sent: never reorder `ALL`.
    pub fn content_code(self) -> i16 {
        Self::ALL
            .iter()
            .position(|d| *d == self)
            .map_or(0, |i| i as i16 + 1)
    }

    /// Interviews outrank every other outcome of the same case, whenever they happened: a
    /// complete outranks a partial, a partial every non-interview.
    fn rank(self) -> u8 {
        match self {
            Self::Complete => 2,
            Self::Partial => 1,
            _ => 0,
        }
    }
}

/// A case's deciding attempt: its disposition and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub disposition: Disposition,
    pub at: Timestamp,
}

impl Outcome {
    /// The greater outcome of a case decides it: the higher rank; then the later attempt
    /// time; then, at the same time, the disposition listed first in [`Disposition::ALL`]
    /// (the wire's order, AAPOR's codes: eligible before unknown before not eligible).
    fn precedence(self) -> (u8, Timestamp, Reverse<Disposition>) {
        (self.disposition.rank(), self.at, Reverse(self.disposition))
    }
}

/// The case's final outcome after another attempt:
/// 1. a complete interview outranks every other outcome and a partial every outcome but a
///    complete, whenever they happened (a complete after a partial completes the case);
/// 2. among outcomes of the same rank the latest attempt decides, by attempt time, not
///    arrival: attempts may arrive out of order (offline tools);
/// 3. at the same attempt time, the disposition listed first in [`Disposition::ALL`];
/// 4. the same disposition at the same time changes nothing: the case keeps the attempt that
///    decided it.
///
/// Every step compares the outcomes alone, so a case's final outcome does not depend on the
/// order its attempts are logged in.
pub fn next_outcome(current: Option<Outcome>, attempt: Outcome) -> Outcome {
    match current {
        Some(current) if current.precedence() >= attempt.precedence() => current,
        _ => attempt,
    }
}

/// The attempt that decides a case of `attempts` (in the order they were logged) by
/// [`next_outcome`]; `None` when there is none.
pub fn deciding_attempt(attempts: &[Outcome]) -> Option<usize> {
    let mut decided: Option<(usize, Outcome)> = None;
    for (i, &attempt) in attempts.iter().enumerate() {
        let current = decided.map(|(_, outcome)| outcome);
        if Some(next_outcome(current, attempt)) != current {
            decided = Some((i, attempt));
        }
    }
    decided.map(|(i, _)| i)
}

/// What a case stands at once its interview does not count: a phone poll rejected in review
/// is not an interview (AAPOR: interviews found falsified are removed, not counted as
/// completes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Its other attempts decide it by the usual rule ([`next_outcome`]): the one at this index.
    Attempt(usize),
    /// It has no other attempt: it is an other eligible non-interview (O; the respondent was
    /// reached), at the interview's time. This stands in for an outcome and is not one: the
    /// first attempt logged for the case decides it, whatever its time.
    StandIn(Outcome),
}

/// What a case becomes without its `interview`, given its other `attempts` in the order they
/// were logged.
pub fn without_interview(interview: Outcome, attempts: &[Outcome]) -> Fallback {
    match deciding_attempt(attempts) {
        Some(i) => Fallback::Attempt(i),
        None => Fallback::StandIn(Outcome {
            disposition: Disposition::OtherNonInterview,
            at: interview.at,
        }),
    }
}

/// Cases per group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    pub i: u64,
    pub p: u64,
    pub r: u64,
    pub nc: u64,
    pub o: u64,
    pub uh: u64,
    pub uo: u64,
    pub ne: u64,
}

impl GroupCounts {
    pub fn add(&mut self, group: Group, cases: u64) {
        let slot = match group {
            Group::I => &mut self.i,
            Group::P => &mut self.p,
            Group::R => &mut self.r,
            Group::Nc => &mut self.nc,
            Group::O => &mut self.o,
            Group::Uh => &mut self.uh,
            Group::Uo => &mut self.uo,
            Group::Ne => &mut self.ne,
        };
        *slot += cases;
    }

    pub fn total(&self) -> u64 {
        self.i + self.p + self.r + self.nc + self.o + self.uh + self.uo + self.ne
    }
}

/// AAPOR outcome rates; a rate whose denominator is 0 is absent, not 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Estimated eligible share of unknown-eligibility cases.
    pub e: Option<f64>,
    pub response: [Option<f64>; 6],
    pub cooperation: [Option<f64>; 4],
    pub refusal: [Option<f64>; 3],
    pub contact: [Option<f64>; 3],
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

/// RR1-RR6, COOP1-COOP4, REF1-REF3 and CON1-CON3. `fixed_e` overrides the proportional
/// estimate `e = D / (D + NE)`. Rates that need `e` are absent when it cannot be estimated.
pub fn rates(c: &GroupCounts, fixed_e: Option<f64>) -> Rates {
    let f = |x: u64| x as f64;
    let (i, p, r, nc, o) = (f(c.i), f(c.p), f(c.r), f(c.nc), f(c.o));
    let d = i + p + r + nc + o;
    let u = f(c.uh) + f(c.uo);
    let e = fixed_e.or_else(|| ratio(d, d + f(c.ne)));
    let with_e = |numerator: f64| e.and_then(|e| ratio(numerator, d + e * u));
    let contacted = i + p + r + o;
    Rates {
        e,
        response: [
            ratio(i, d + u),
            ratio(i + p, d + u),
            with_e(i),
            with_e(i + p),
            ratio(i, d),
            ratio(i + p, d),
        ],
        cooperation: [
            ratio(i, i + p + r + o),
            ratio(i + p, i + p + r + o),
            ratio(i, i + p + r),
            ratio(i + p, i + p + r),
        ],
        refusal: [ratio(r, d + u), with_e(r), ratio(r, d)],
        contact: [
            ratio(contacted, d + u),
            with_e(contacted),
            ratio(contacted, d),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: [u64; 8]) -> GroupCounts {
        GroupCounts {
            i: v[0],
            p: v[1],
            r: v[2],
            nc: v[3],
            o: v[4],
            uh: v[5],
            uo: v[6],
            ne: v[7],
        }
    }

    fn assert_rates(actual: &[Option<f64>], expected: &[f64], precision: f64) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            let a = a.expect("rate present");
            assert!((a - e).abs() < precision, "{actual:?} vs {expected:?}");
        }
    }

    #[test]
    fn worked_example_with_proportional_e() {
        let r = rates(&counts([400, 50, 150, 200, 30, 120, 50, 100]), None);
        assert!((r.e.unwrap() - 0.8925).abs() < 5e-5);
        let p = 5e-5;
        assert_rates(
            &r.response,
            &[0.4000, 0.4500, 0.4074, 0.4584, 0.4819, 0.5422],
            p,
        );
        assert_rates(&r.cooperation, &[0.6349, 0.7143, 0.6667, 0.7500], p);
        assert_rates(&r.refusal, &[0.1500, 0.1528, 0.1807], p);
        assert_rates(&r.contact, &[0.6300, 0.6417, 0.7590], p);
    }

    #[test]
    fn worked_example_with_fixed_e() {
        let r = rates(&counts([400, 50, 150, 200, 30, 120, 50, 100]), Some(0.8));
        let p = 5e-5;
        assert_rates(
            &[r.response[2], r.response[3], r.refusal[1], r.contact[1]],
            &[0.4141, 0.4658, 0.1553, 0.6522],
            p,
        );
    }

    #[test]
    fn small_cross_check_from_outcomerate() {
        let r = rates(&counts([4, 2, 1, 1, 1, 1, 1, 1]), None);
        let p = 5e-4;
        assert!((r.e.unwrap() - 0.9).abs() < p);
        assert_rates(&r.response, &[0.364, 0.545, 0.370, 0.556, 0.444, 0.667], p);
        assert_rates(&r.cooperation, &[0.500, 0.750, 0.571, 0.857], p);
        assert_rates(&r.refusal, &[0.091, 0.093, 0.111], p);
        assert_rates(&r.contact, &[0.727, 0.741, 0.889], p);
    }

    #[test]
    fn zero_denominators_give_absent_rates() {
        let r = rates(&GroupCounts::default(), None);
        assert_eq!(r.e, None);
        assert!(r.response.iter().chain(&r.cooperation).all(Option::is_none));
        let only_unknown = rates(&counts([0, 0, 0, 0, 0, 3, 0, 0]), None);
        assert_eq!(only_unknown.response[0], Some(0.0));
        assert_eq!(only_unknown.response[4], None);
    }

    #[test]
    fn interviews_outrank_later_attempts_and_the_latest_attempt_decides_otherwise() {
        let at = |s| Timestamp::from_micros(s);
        let busy = Outcome {
            disposition: Disposition::Busy,
            at: at(1),
        };
        let refusal = Outcome {
            disposition: Disposition::Refusal,
            at: at(2),
        };
        let complete = Outcome {
            disposition: Disposition::Complete,
            at: at(3),
        };
        let later_no_answer = Outcome {
            disposition: Disposition::NoAnswer,
            at: at(4),
        };
        let mut case = next_outcome(None, busy);
        case = next_outcome(Some(case), refusal);
        assert_eq!(case, refusal);
        case = next_outcome(Some(case), complete);
        case = next_outcome(Some(case), later_no_answer);
        assert_eq!(case, complete, "a complete outranks later attempts");
        // An attempt reported late (earlier time) does not replace a later one.
        let early = Outcome {
            disposition: Disposition::NonContact,
            at: at(0),
        };
        assert_eq!(next_outcome(Some(refusal), early), refusal);
        let partial = Outcome {
            disposition: Disposition::Partial,
            at: at(9),
        };
        assert_eq!(
            next_outcome(Some(partial), complete),
            complete,
            "complete outranks partial"
        );
    }

    fn at(micros: i64, disposition: Disposition) -> Outcome {
        Outcome {
            disposition,
            at: Timestamp::from_micros(micros),
        }
    }

    /// The final disposition of a case of two attempts, as the wire contract words the rule
    /// (callcenter.proto), spelled out apart from the code: COMPLETE outranks everything and
    /// PARTIAL everything but COMPLETE; otherwise the later attempt time decides, and at the
    /// same time the lower CallDisposition number.
    fn as_the_contract_says(a: Outcome, b: Outcome) -> Disposition {
        use Disposition::{Complete, Partial};
        let interview = |d: Disposition| match d {
            Complete => 2,
            Partial => 1,
            _ => 0,
        };
        let (ia, ib) = (interview(a.disposition), interview(b.disposition));
        if ia != ib {
            return if ia > ib {
                a.disposition
            } else {
                b.disposition
            };
        }
        match a.at.as_micros().cmp(&b.at.as_micros()) {
            std::cmp::Ordering::Greater => a.disposition,
            std::cmp::Ordering::Less => b.disposition,
            std::cmp::Ordering::Equal
                if a.disposition.content_code() < b.disposition.content_code() =>
            {
                a.disposition
            }
            std::cmp::Ordering::Equal => b.disposition,
        }
    }

    #[test]
    fn every_ordered_pair_of_dispositions_follows_the_rule_in_every_time_order() {
        // The second attempt is logged after the first, and happened later, at the same time,
        // or earlier (logged out of order).
        let times = [
            (10, 20, "later"),
            (10, 10, "at the same time"),
            (20, 10, "earlier"),
        ];
        let mut checked = 0;
        for first in Disposition::ALL {
            for second in Disposition::ALL {
                for (t1, t2, when) in times {
                    let (a, b) = (at(t1, first), at(t2, second));
                    let expected = as_the_contract_says(a, b);
                    let logged_in_order = next_outcome(Some(next_outcome(None, a)), b);
                    assert_eq!(
                        logged_in_order.disposition, expected,
                        "{first:?} then {second:?} {when}"
                    );
                    let logged_reversed = next_outcome(Some(next_outcome(None, b)), a);
                    assert_eq!(
                        logged_reversed, logged_in_order,
                        "{first:?} and {second:?} {when}: logging order does not matter"
                    );
                    let decided = deciding_attempt(&[a, b]).map(|i| [a, b][i].disposition);
                    assert_eq!(decided, Some(expected), "{first:?} then {second:?} {when}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 18 * 18 * 3);
    }

    #[test]
    fn the_rule_in_the_cases_users_ask_about() {
        use Disposition::*;
        // (first logged, its time, then logged, its time, the case's final disposition and time)
        let cases = [
            (Partial, 1, Complete, 2, Complete, 2),
            (Complete, 1, Partial, 2, Complete, 1),
            (Partial, 2, Complete, 1, Complete, 1),
            (Complete, 1, Complete, 2, Complete, 2),
            (Partial, 1, Partial, 2, Partial, 2),
            (Partial, 1, Refusal, 2, Partial, 1),
            (Refusal, 1, NoAnswer, 2, NoAnswer, 2),
            (Refusal, 2, NoAnswer, 1, Refusal, 2),
            (NoAnswer, 1, Busy, 1, Busy, 1),
            (Busy, 1, NoAnswer, 1, Busy, 1),
            (Disconnected, 1, Refusal, 1, Refusal, 1),
            (Callback, 1, LanguageBarrier, 2, LanguageBarrier, 2),
        ];
        for (first, t1, second, t2, final_disposition, final_at) in cases {
            let case = next_outcome(Some(at(t1, first)), at(t2, second));
            assert_eq!(
                case,
                at(final_at, final_disposition),
                "{first:?} then {second:?}"
            );
        }
    }

    #[test]
    fn the_same_outcome_twice_keeps_the_attempt_that_decided() {
        let busy = at(5, Disposition::Busy);
        assert_eq!(
            deciding_attempt(&[busy, at(3, Disposition::Refusal), busy]),
            Some(0)
        );
        assert_eq!(deciding_attempt(&[]), None);
    }

    #[test]
    fn dispositions_are_ordered_as_listed_and_numbered_on_the_wire() {
        let mut sorted = Disposition::ALL;
        sorted.sort();
        assert_eq!(sorted, Disposition::ALL);
    }

    #[test]
    fn without_its_interview_a_case_falls_back_to_its_other_attempts() {
        use Disposition::*;
        let interview = at(50, Complete);
        // The usual rule over the others: the latest, whatever order they were logged in.
        let others = [at(10, Busy), at(30, Refusal), at(20, NoAnswer)];
        assert_eq!(without_interview(interview, &others), Fallback::Attempt(1));
        // An interview among the other attempts still outranks them.
        let others = [at(10, Partial), at(60, Refusal), at(20, Complete)];
        assert_eq!(without_interview(interview, &others), Fallback::Attempt(2));
        // None: an eligible non-interview, at the interview's time.
        assert_eq!(
            without_interview(interview, &[]),
            Fallback::StandIn(at(50, OtherNonInterview))
        );
    }

    #[test]
    fn content_codes_are_distinct_and_from_one() {
        let codes: Vec<i16> = Disposition::ALL.iter().map(|d| d.content_code()).collect();
        assert_eq!(codes, (1..=18).collect::<Vec<i16>>());
    }
}
