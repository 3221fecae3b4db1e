use tonic::{Request, Response, Status};

use super::caller;
use super::convert::{carrier, carrier_to_proto, timestamp_to_proto};
use crate::domain::aapor::{Disposition, GroupCounts, NewCallAttempt, Rates};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::phone::{PhoneHasher, PhoneNumber};
use crate::domain::submission::parse_submission_id;
use crate::domain::time::Timestamp;
use crate::error::Violations;
use crate::fieldwork::Fieldwork;
use crate::proto::v1 as pb;
use crate::proto::v1::call_center_service_server::CallCenterService;

pub struct CallCenterApi {
    pub fieldwork: Fieldwork,
    pub phone_hasher: PhoneHasher,
}

fn disposition(value: i32) -> Result<Disposition, String> {
    match i16::try_from(value).ok().and_then(Disposition::from_i16) {
        Some(d) => Ok(d),
        None => Err("must be a call disposition other than UNSPECIFIED".into()),
    }
}

fn disposition_to_proto(d: Disposition) -> i32 {
    i32::from(d.as_i16())
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

fn rates_to_proto(counts: &GroupCounts, r: &Rates) -> pb::OutcomeRates {
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

#[tonic::async_trait]
impl CallCenterService for CallCenterApi {
    /// # Errors
    /// INVALID_ARGUMENT naming every malformed field; PERMISSION_DENIED outside the token's
    /// units; NOT_FOUND; FAILED_PRECONDITION outside the campaign's window or scope;
    /// ALREADY_EXISTS for a reused attempt id with other content.
    async fn log_call_attempt(
        &self,
        request: Request<pb::LogCallAttemptRequest>,
    ) -> Result<Response<pb::LogCallAttemptResponse>, Status> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        let id = v.check("attempt_id", parse_submission_id(&r.attempt_id));
        let campaign_id = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit_id = v.check("unit_id", UnitId::parse(&r.unit_id));
        let respondent = v
            .check("phone_number", PhoneNumber::parse(r.phone_number.trim()))
            .map(|n| self.phone_hasher.hash(&n));
        let carrier = v.check("carrier", carrier(r.carrier));
        let attempted_at = v.check(
            "attempt_time",
            r.attempt_time
                .ok_or_else(|| "is required".to_string())
                .and_then(|t| Timestamp::from_parts(t.seconds, t.nanos)),
        );
        if attempted_at.is_some_and(|t| t > Timestamp::now().plus_seconds(300)) {
            v.add("attempt_time", "is in the future");
        }
        let disposition = v.check("disposition", disposition(r.disposition));
        let attempt = v.into_result(|| {
            Some(NewCallAttempt {
                id: id?,
                campaign_id: campaign_id?,
                unit_id: unit_id?,
                respondent: respondent?,
                carrier: carrier?,
                disposition: disposition?,
                attempted_at: attempted_at?,
                submitted_by: caller.subject.clone(),
            })
        })?;
        let receipt = self.fieldwork.log_attempt(&caller, attempt).await?;
        Ok(Response::new(pb::LogCallAttemptResponse {
            attempt_id: receipt.id.to_string(),
            accept_time: Some(timestamp_to_proto(receipt.accepted_at)),
            case_disposition: disposition_to_proto(receipt.case),
        }))
    }

    /// # Errors
    /// INVALID_ARGUMENT for malformed ids; NOT_FOUND for an unknown campaign or unit.
    async fn get_response_rates(
        &self,
        request: Request<pb::GetResponseRatesRequest>,
    ) -> Result<Response<pb::ResponseRates>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let campaign = v.check("campaign_id", CampaignId::parse(&r.campaign_id));
        let unit = v.check("unit_id", UnitId::parse(&r.unit_id));
        let (campaign, unit) = v.into_result(|| campaign.zip(unit))?;
        let rates = self.fieldwork.response_rates(&campaign, &unit).await?;
        Ok(Response::new(pb::ResponseRates {
            campaign_id: campaign.to_string(),
            unit_id: unit.to_string(),
            overall: Some(rates_to_proto(&rates.overall.0, &rates.overall.1)),
            by_carrier: rates
                .by_carrier
                .iter()
                .map(|(c, counts, r)| pb::CarrierRates {
                    carrier: carrier_to_proto(Some(*c)).into(),
                    rates: Some(rates_to_proto(counts, r)),
                })
                .collect(),
        }))
    }
}
