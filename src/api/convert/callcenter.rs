//! Call attempts and the AAPOR outcome rates of a unit.

use super::*;
use crate::domain::aapor::{Disposition, GroupCounts, NewCallAttempt, Rates};
use crate::domain::intake::CLOCK_SKEW_ALLOWANCE_SECONDS;
use crate::fieldwork::UnitRates;

/// The wire enum numbers dispositions from 1 in the order of [`Disposition::ALL`].
fn disposition(value: i32) -> Result<Disposition, String> {
    usize::try_from(value)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| Disposition::ALL.get(i).copied())
        .ok_or_else(|| "must be a call disposition other than UNSPECIFIED".into())
}

pub fn disposition_to_proto(d: Disposition) -> i32 {
    let position = Disposition::ALL
        .iter()
        .position(|listed| *listed == d)
        .expect("ALL lists every disposition");
    i32::try_from(position + 1).expect("eighteen dispositions")
}

/// Validates an attempt logged by `submitted_by`; the number is hashed here and goes no
/// further. An attempt time later than `now`, beyond the clock skew allowed, is refused.
///
/// # Errors
/// INVALID_ARGUMENT naming every malformed field.
pub fn call_attempt_from_proto(
    r: pb::LogCallAttemptRequest,
    hasher: &PhoneHasher,
    submitted_by: &str,
    now: Timestamp,
) -> Result<NewCallAttempt> {
    let mut v = Violations::new();
    let id = v.check("attempt_id", parse_submission_id(&r.attempt_id));
    let campaign_id = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
    let unit_id = v.check("unit_id", UnitId::parse(&r.unit_id));
    let respondent = v
        .check("phone_number", PhoneNumber::parse(r.phone_number.trim()))
        .map(|n| hasher.hash(&n));
    let carrier = v.check("carrier", carrier(r.carrier));
    let attempted_at = v.check("attempt_time", timestamp(r.attempt_time.as_ref()));
    if attempted_at.is_some_and(|t| t > now.plus_seconds(CLOCK_SKEW_ALLOWANCE_SECONDS)) {
        v.add("attempt_time", "is in the future");
    }
    let disposition = v.check("disposition", disposition(r.disposition));
    v.into_result(|| {
        Some(NewCallAttempt {
            id: id?,
            campaign_id: campaign_id?,
            unit_id: unit_id?,
            respondent: respondent?,
            carrier: carrier?,
            disposition: disposition?,
            attempted_at: attempted_at?,
            submitted_by: submitted_by.to_owned(),
        })
    })
}

fn counts_to_proto(c: &GroupCounts) -> pb::DispositionCounts {
    let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    pb::DispositionCounts {
        complete: n(c.i),
        partial: n(c.p),
        refusal_and_break_off: n(c.r),
        non_contact: n(c.nc),
        other: n(c.o),
        unknown_household: n(c.uh),
        unknown_other: n(c.uo),
        not_eligible: n(c.ne),
    }
}

pub fn rates_to_proto(counts: &GroupCounts, r: &Rates) -> pb::OutcomeRates {
    let [rr1, rr2, rr3, rr4, rr5, rr6] = r.response;
    let [coop1, coop2, coop3, coop4] = r.cooperation;
    let [ref1, ref2, ref3] = r.refusal;
    let [con1, con2, con3] = r.contact;
    pb::OutcomeRates {
        counts: Some(counts_to_proto(counts)),
        eligibility_rate: r.e,
        rr1,
        rr2,
        rr3,
        rr4,
        rr5,
        rr6,
        coop1,
        coop2,
        coop3,
        coop4,
        ref1,
        ref2,
        ref3,
        con1,
        con2,
        con3,
    }
}

/// A unit's rates, overall and per carrier, as GetResponseRates answers them.
pub fn response_rates_to_proto(
    campaign_id: &CampaignId,
    unit_id: &UnitId,
    rates: &UnitRates,
) -> pb::ResponseRates {
    pb::ResponseRates {
        campaign_id: campaign_id.to_string(),
        unit_id: unit_id.to_string(),
        overall: Some(rates_to_proto(&rates.overall.0, &rates.overall.1)),
        by_carrier: rates
            .by_carrier
            .iter()
            .map(|(c, counts, r)| pb::CarrierRates {
                carrier: carrier_to_proto(Some(*c)).into(),
                rates: Some(rates_to_proto(counts, r)),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn dispositions_carry_their_wire_numbers() {
        for d in Disposition::ALL {
            let wire = pb::CallDisposition::try_from(disposition_to_proto(d)).unwrap();
            let mut name = String::from("CALL_DISPOSITION");
            for c in format!("{d:?}").chars() {
                if c.is_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            assert_eq!(wire.as_str_name(), name);
            assert_eq!(disposition(disposition_to_proto(d)), Ok(d));
        }
        assert!(disposition(0).is_err());
        assert!(disposition(19).is_err());
        assert!(disposition(-1).is_err());
    }

    fn attempt_at(seconds: i64) -> pb::LogCallAttemptRequest {
        pb::LogCallAttemptRequest {
            attempt_id: "0190f5c2-7d3e-7c1a-9b1e-2f6d4c8a9e01".into(),
            campaign_id: "c1".into(),
            unit_id: "u1".into(),
            phone_number: "+8613800138000".into(),
            carrier: pb::Carrier::ChinaMobile.into(),
            attempt_time: Some(PbTimestamp { seconds, nanos: 0 }),
            disposition: disposition_to_proto(Disposition::Complete),
        }
    }

    #[test]
    fn attempt_times_may_run_ahead_of_the_server_by_the_allowed_clock_skew() {
        let now = Timestamp::from_micros(1_700_000_000_000_000);
        let hasher = PhoneHasher::new("key");
        let ahead = |seconds: i64| {
            call_attempt_from_proto(attempt_at(now.seconds() + seconds), &hasher, "seat-1", now)
        };
        assert!(ahead(CLOCK_SKEW_ALLOWANCE_SECONDS).is_ok());
        match ahead(CLOCK_SKEW_ALLOWANCE_SECONDS + 1) {
            Err(Error::InvalidArgument(violations)) => {
                let fields: Vec<(&str, &str)> = violations
                    .iter()
                    .map(|v| (v.field.as_str(), v.description.as_str()))
                    .collect();
                assert_eq!(fields, [("attempt_time", "is in the future")]);
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }
}
