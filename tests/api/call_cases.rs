//! Call cases in the response rates: the order in which attempts decide a case, and phone
//! interviews rejected in review, which are not interviews. The expected counts and rates are
//! recomputed here from the attempts logged, the polls submitted and the review decisions
//! taken, by the rule as callcenter.proto words it.

use std::collections::BTreeMap;
use std::sync::Arc;

use canvass::auth::Role;
use canvass::proto::v1 as pb;
use pb::CallDisposition as D;
use tokio::sync::Barrier;

use crate::helpers::*;

/// One outcome of a case as the test logged it: an attempt, or a phone poll (a complete at
/// its end time).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Logged {
    disposition: D,
    /// Seconds since the epoch.
    at: i64,
    unit: &'static str,
    carrier: pb::Carrier,
}

/// A case as the test knows it: its attempts in the order they were logged, and its phone
/// poll with whether the poll stands rejected.
#[derive(Debug, Clone)]
struct Case {
    number: String,
    attempts: Vec<Logged>,
    poll: Option<(Logged, String, bool)>,
}

impl Case {
    fn new(number: String) -> Self {
        Self {
            number,
            attempts: Vec::new(),
            poll: None,
        }
    }

    /// The outcome that decides the case, by the contract: COMPLETE outranks everything and
    /// PARTIAL everything else; then the later attempt time; then the lower CallDisposition
    /// number. A rejected poll is left out; a case left with nothing is OTHER_NON_INTERVIEW
    /// under the poll's unit and carrier.
    fn decided(&self) -> Logged {
        let rank = |d: D| match d {
            D::Complete => 2,
            D::Partial => 1,
            _ => 0,
        };
        let key = |l: &Logged| (rank(l.disposition), l.at, -(l.disposition as i32));
        let interview = self
            .poll
            .iter()
            .filter(|(_, _, rejected)| !rejected)
            .map(|(poll, ..)| *poll);
        let mut decided: Option<Logged> = None;
        for outcome in self.attempts.iter().copied().chain(interview) {
            if decided.is_none_or(|d| key(&outcome) > key(&d)) {
                decided = Some(outcome);
            }
        }
        decided.unwrap_or_else(|| {
            let (poll, ..) = self.poll.as_ref().expect("a case has an attempt or a poll");
            Logged {
                disposition: D::OtherNonInterview,
                ..*poll
            }
        })
    }
}

/// The AAPOR group of a disposition: I, P, R, NC, O, UH, UO, NE.
fn group(d: D) -> usize {
    match d {
        D::Complete => 0,
        D::Partial => 1,
        D::Refusal | D::BreakOff => 2,
        D::NonContact | D::AnsweringMachineHousehold | D::Callback => 3,
        D::LanguageBarrier | D::OtherNonInterview => 4,
        D::Busy | D::NoAnswer | D::AnsweringMachine => 5,
        D::UnknownEligibility => 6,
        _ => 7,
    }
}

type Counts = [i64; 8];

fn counts_of(c: &pb::DispositionCounts) -> Counts {
    [
        c.complete,
        c.partial,
        c.refusal_and_break_off,
        c.non_contact,
        c.other,
        c.unknown_household,
        c.unknown_other,
        c.not_eligible,
    ]
}

/// e (proportional), RR1-6, COOP1-4, REF1-3 and CON1-3 of `c`, from DOMAIN.md's formulas.
fn aapor(c: Counts) -> Vec<Option<f64>> {
    let [i, p, r, nc, o, uh, uo, ne] = c.map(|n| n as f64);
    let ratio = |n: f64, d: f64| (d > 0.0).then(|| n / d);
    let d = i + p + r + nc + o;
    let u = uh + uo;
    let e = ratio(d, d + ne);
    let de = e.map(|e| d + e * u);
    let with_e = |n: f64| de.and_then(|de| ratio(n, de));
    let contacted = i + p + r + o;
    vec![
        e,
        ratio(i, d + u),
        ratio(i + p, d + u),
        with_e(i),
        with_e(i + p),
        ratio(i, d),
        ratio(i + p, d),
        ratio(i, i + p + r + o),
        ratio(i + p, i + p + r + o),
        ratio(i, i + p + r),
        ratio(i + p, i + p + r),
        ratio(r, d + u),
        with_e(r),
        ratio(r, d),
        ratio(contacted, d + u),
        with_e(contacted),
        ratio(contacted, d),
    ]
}

fn reported(r: &pb::OutcomeRates) -> Vec<Option<f64>> {
    vec![
        r.eligibility_rate,
        r.rr1,
        r.rr2,
        r.rr3,
        r.rr4,
        r.rr5,
        r.rr6,
        r.coop1,
        r.coop2,
        r.coop3,
        r.coop4,
        r.ref1,
        r.ref2,
        r.ref3,
        r.con1,
        r.con2,
        r.con3,
    ]
}

fn assert_outcome_rates(reported_rates: &pb::OutcomeRates, expected: Counts, what: &str) {
    let counts = counts_of(reported_rates.counts.as_ref().expect("counts"));
    assert_eq!(
        counts, expected,
        "{what}: cases per I, P, R, NC, O, UH, UO, NE"
    );
    let (actual, expected) = (reported(reported_rates), aapor(expected));
    for (a, e) in actual.iter().zip(&expected) {
        match (a, e) {
            (Some(a), Some(e)) => {
                assert!((a - e).abs() < 1e-12, "{what}: {actual:?} vs {expected:?}")
            }
            _ => assert_eq!(
                a.is_some(),
                e.is_some(),
                "{what}: {actual:?} vs {expected:?}"
            ),
        }
    }
}

async fn response_rates(app: &TestApp, unit: &str) -> pb::ResponseRates {
    app.call_center_service(Role::Analyst, &[])
        .get_response_rates(pb::GetResponseRatesRequest {
            campaign_id: "c1".into(),
            unit_id: unit.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Checks the rates of jinshi (overall and per carrier) and of each of its villages against
/// the cases' decided outcomes.
async fn assert_rates_follow(app: &TestApp, cases: &[Case], when: &str) {
    let mut by_unit: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut by_carrier: BTreeMap<i32, Counts> = BTreeMap::new();
    let mut overall = Counts::default();
    for case in cases {
        let decided = case.decided();
        let g = group(decided.disposition);
        by_unit.entry(decided.unit).or_default()[g] += 1;
        by_carrier.entry(decided.carrier as i32).or_default()[g] += 1;
        overall[g] += 1;
    }
    let township = response_rates(app, "jinshi").await;
    assert_outcome_rates(
        township.overall.as_ref().unwrap(),
        overall,
        &format!("{when}, jinshi"),
    );
    let carriers: BTreeMap<i32, &pb::OutcomeRates> = township
        .by_carrier
        .iter()
        .map(|c| (c.carrier, c.rates.as_ref().unwrap()))
        .collect();
    assert_eq!(
        carriers.keys().collect::<Vec<_>>(),
        by_carrier.keys().collect::<Vec<_>>(),
        "{when}"
    );
    for (carrier, expected) in by_carrier {
        assert_outcome_rates(
            carriers[&carrier],
            expected,
            &format!("{when}, carrier {carrier}"),
        );
    }
    for village in ["jinshi-v1", "jinshi-v2"] {
        let expected = by_unit.get(village).copied().unwrap_or_default();
        let rates = response_rates(app, village).await;
        assert_outcome_rates(
            rates.overall.as_ref().unwrap(),
            expected,
            &format!("{when}, {village}"),
        );
    }
}

/// Calls again, as a client would, while the server answers UNAVAILABLE: the racing tests'
/// 48 concurrent calls share the test server's pool of 4 connections, and on a loaded machine
/// some wait longer than its 1 s acquire timeout.
async fn until_available<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    for _ in 0..20 {
        match call().await {
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            result => return result.map(tonic::Response::into_inner),
        }
    }
    call().await.map(tonic::Response::into_inner)
}

fn number(i: usize) -> String {
    format!("+86137{:08}", i)
}

/// Logs `outcome` as an attempt of `case` and returns the case's disposition as the server
/// reports it.
async fn log(app: &TestApp, case: &mut Case, outcome: Logged) -> D {
    let request = pb::LogCallAttemptRequest {
        attempt_id: uuid::Uuid::now_v7().to_string(),
        campaign_id: "c1".into(),
        unit_id: outcome.unit.into(),
        phone_number: case.number.clone(),
        carrier: outcome.carrier.into(),
        attempt_time: Some(ts(outcome.at)),
        disposition: outcome.disposition.into(),
    };
    let response = app
        .call_center_service(Role::CallCenter, &["city"])
        .log_call_attempt(request)
        .await
        .expect("attempt logged")
        .into_inner();
    case.attempts.push(outcome);
    response.case_disposition()
}

/// Submits a phone poll of `case` that ended at `end`, too fast (so flagged) when `flagged`.
async fn submit_poll(
    app: &TestApp,
    case: &mut Case,
    unit: &'static str,
    carrier: pb::Carrier,
    end: i64,
    flagged: bool,
) {
    let mut poll = phone_poll("c1", unit, &case.number, vec![answer("security", "a")]);
    poll.carrier = carrier.into();
    poll.end_time = Some(ts(end));
    poll.start_time = Some(ts(if flagged { end } else { end - 300 }));
    let ack = app
        .call_center(&["city"])
        .submit_phone_poll(poll.clone())
        .await
        .expect("poll stored")
        .into_inner()
        .acknowledgement
        .unwrap();
    let state = if flagged {
        pb::ReviewState::Flagged
    } else {
        pb::ReviewState::Received
    };
    assert_eq!(ack.review_state(), state);
    let outcome = Logged {
        disposition: D::Complete,
        at: end,
        unit,
        carrier,
    };
    case.poll = Some((outcome, poll.submission_id, false));
}

/// Reviews the poll of `case` and notes whether it stands rejected.
async fn review_poll(app: &TestApp, case: &mut Case, decision: pb::ReviewDecision) {
    let (_, id, rejected) = case.poll.as_mut().expect("the case has a poll");
    app.review("c1", id, decision).await;
    *rejected = decision == pb::ReviewDecision::Reject;
}

/// The same `D` of every ordered pair of a representative set, logged with the second attempt
/// later, at the same time, or earlier (logged out of order).
const REPRESENTATIVE: [D; 9] = [
    D::Complete,
    D::Partial,
    D::Refusal,
    D::NonContact,
    D::LanguageBarrier,
    D::Busy,
    D::NoAnswer,
    D::UnknownEligibility,
    D::Disconnected,
];

per_backend! {
    async fn attempts_decide_their_case_in_the_order_the_contract_gives(app: TestApp) {
        app.seed().await;
        let now = now_seconds();
        let mut plans = Vec::new();
        for (i, first) in REPRESENTATIVE.into_iter().enumerate() {
            for (j, second) in REPRESENTATIVE.into_iter().enumerate() {
                for (k, (t1, t2)) in [(900, 600), (700, 700), (600, 900)].into_iter().enumerate() {
                    let unit = if (i + j) % 2 == 0 { "jinshi-v1" } else { "jinshi-v2" };
                    let carrier = if k == 1 { pb::Carrier::ChinaTelecom } else { pb::Carrier::ChinaMobile };
                    let outcome = |disposition, ago| Logged { disposition, at: now - ago, unit, carrier };
                    plans.push((outcome(first, t1), outcome(second, t2)));
                }
            }
        }
        // Cases in parallel, each case's two attempts in order.
        let app = Arc::new(app);
        let mut tasks = Vec::new();
        for (n, chunk) in plans.chunks(plans.len().div_ceil(6)).enumerate() {
            let (app, chunk) = (app.clone(), chunk.to_vec());
            tasks.push(tokio::spawn(async move {
                let mut cases = Vec::new();
                for (i, (first, second)) in chunk.into_iter().enumerate() {
                    let mut case = Case::new(number(n * 1000 + i));
                    log(&app, &mut case, first).await;
                    let reported = log(&app, &mut case, second).await;
                    assert_eq!(reported, case.decided().disposition, "{first:?} then {second:?}");
                    cases.push(case);
                }
                cases
            }));
        }
        let mut cases = Vec::new();
        for task in tasks {
            cases.extend(task.await.unwrap());
        }
        assert_eq!(cases.len(), 9 * 9 * 3);
        // A few of the pairs spelled out, as users ask about them.
        let decided = |first: D, second: D, k: usize| {
            let (i, j) = (REPRESENTATIVE.iter().position(|d| *d == first).unwrap(), REPRESENTATIVE.iter().position(|d| *d == second).unwrap());
            cases[(i * 9 + j) * 3 + k].decided().disposition
        };
        assert_eq!(decided(D::Partial, D::Complete, 0), D::Complete, "a complete after a partial");
        assert_eq!(decided(D::Complete, D::Partial, 0), D::Complete);
        assert_eq!(decided(D::Refusal, D::NoAnswer, 0), D::NoAnswer, "the later attempt");
        assert_eq!(decided(D::Refusal, D::NoAnswer, 2), D::Refusal, "logged late, from before");
        assert_eq!(decided(D::NoAnswer, D::Busy, 1), D::Busy, "at the same time, the lower number");
        let app = Arc::into_inner(app).expect("the tasks are done");
        assert_rates_follow(&app, &cases, "every pair logged").await;
    }

    async fn a_rejected_interview_is_not_a_complete_and_approval_restores_it(app: TestApp) {
        app.seed().await;
        let now = now_seconds();
        let (v1, v2) = ("jinshi-v1", "jinshi-v2");
        let (mobile, telecom) = (pb::Carrier::ChinaMobile, pb::Carrier::ChinaTelecom);
        let at = |disposition, ago, unit, carrier| Logged { disposition, at: now - ago, unit, carrier };
        let mut cases: Vec<Case> = (0..8).map(|i| Case::new(number(i))).collect();
        // 0: a poll alone. 1: a busy line on one village's list, then a poll recorded under
        // the other village and carrier. 2: a refusal, and a no-answer logged late from before
        // it. 3: a partial, then the poll. 4: a poll too fast, flagged. 5: a complete attempt
        // before the poll. 6: a busy line, then the poll, never reviewed. 7: a poll alone.
        log(&app, &mut cases[1], at(D::Busy, 2000, v1, mobile)).await;
        log(&app, &mut cases[2], at(D::Refusal, 1500, v1, mobile)).await;
        log(&app, &mut cases[2], at(D::NoAnswer, 1600, v1, mobile)).await;
        log(&app, &mut cases[3], at(D::Partial, 1500, v2, mobile)).await;
        log(&app, &mut cases[5], at(D::Complete, 1500, v2, mobile)).await;
        log(&app, &mut cases[6], at(D::Busy, 1500, v1, mobile)).await;
        for (i, unit, carrier, flagged) in [
            (0, v1, telecom, false), (1, v2, telecom, false), (2, v1, mobile, false), (3, v2, mobile, false),
            (4, v1, telecom, true), (5, v2, mobile, false), (6, v1, mobile, false), (7, v2, telecom, false),
        ] {
            submit_poll(&app, &mut cases[i], unit, carrier, now - 1000, flagged).await;
        }
        assert!(cases.iter().all(|c| c.decided().disposition == D::Complete));
        assert_rates_follow(&app, &cases, "every poll an interview, one awaiting review").await;

        use pb::ReviewDecision::{Approve, Reject};
        for i in [0, 1, 2, 3, 4, 5, 7] {
            review_poll(&app, &mut cases[i], Reject).await;
        }
        let decided: Vec<D> = cases.iter().map(|c| c.decided().disposition).collect();
        assert_eq!(decided, [
            D::OtherNonInterview, D::Busy, D::Refusal, D::Partial,
            D::OtherNonInterview, D::Complete, D::Complete, D::OtherNonInterview,
        ]);
        assert_rates_follow(&app, &cases, "seven polls rejected").await;

        // A rejected poll's case with no other attempt takes the next attempt logged, even one
        // from before the poll; with attempts, the usual rule goes on.
        let reported = log(&app, &mut cases[0], at(D::NoAnswer, 3000, v2, mobile)).await;
        assert_eq!(reported, D::NoAnswer);
        let reported = log(&app, &mut cases[7], at(D::Disconnected, 500, v2, telecom)).await;
        assert_eq!(reported, D::Disconnected);
        let reported = log(&app, &mut cases[2], at(D::Busy, 1700, v1, mobile)).await;
        assert_eq!(reported, D::Refusal, "an earlier attempt logged late");
        assert_rates_follow(&app, &cases, "attempts after the rejections").await;

        // Approval restores the complete; a second rejection falls back to the attempts again.
        for i in [0, 3, 4] {
            review_poll(&app, &mut cases[i], Approve).await;
        }
        assert_eq!(cases[0].decided().disposition, D::Complete);
        assert_rates_follow(&app, &cases, "three polls approved").await;
        for i in [0, 4] {
            review_poll(&app, &mut cases[i], Reject).await;
        }
        assert_eq!((cases[0].decided().disposition, cases[4].decided().disposition), (D::NoAnswer, D::OtherNonInterview));
        assert_rates_follow(&app, &cases, "two polls rejected again").await;

        // Scores leave the rejected polls out as the rates do.
        let rejected = cases.iter().filter(|c| c.poll.as_ref().is_some_and(|p| p.2)).count();
        assert_eq!(unit_score(&app, "c1", "jinshi").await.submission_count, (cases.len() - rejected) as i64);
    }

    async fn rejections_racing_attempts_on_the_same_cases_count_each_case_once(app: TestApp) {
        app.seed().await;
        let now = now_seconds();
        let cases_n = 24;
        let mut cases: Vec<Case> = (0..cases_n).map(|i| Case::new(number(i))).collect();
        for (i, case) in cases.iter_mut().enumerate() {
            let unit = if i % 2 == 0 { "jinshi-v1" } else { "jinshi-v2" };
            submit_poll(&app, case, unit, pb::Carrier::ChinaTelecom, now - 1000, false).await;
        }
        // Each case's poll is rejected while two attempts are logged for its number, from
        // other tasks at the same moment; then approved while a third is logged.
        for (round, decision) in [(0, pb::ReviewDecision::Reject), (1, pb::ReviewDecision::Approve)] {
            let start = Arc::new(Barrier::new(cases_n * 2));
            let mut tasks = Vec::new();
            for (i, case) in cases.iter().enumerate() {
                let unit = if i % 3 == 0 { "jinshi-v1" } else { "jinshi-v2" };
                let dispositions = match (round, i % 4) {
                    (0, 0) => vec![(D::Busy, 2000), (D::Refusal, 1900)],
                    (0, 1) => vec![(D::NoAnswer, 500), (D::Partial, 2500)],
                    (0, 2) => vec![(D::Disconnected, 800), (D::Busy, 900)],
                    (0, _) => vec![(D::LanguageBarrier, 1200), (D::NoAnswer, 1200)],
                    (_, _) => vec![(D::NoAnswer, 100 + i as i64)],
                };
                let planned: Vec<Logged> = dispositions
                    .into_iter()
                    .map(|(disposition, ago)| Logged { disposition, at: now - ago, unit, carrier: pb::Carrier::ChinaMobile })
                    .collect();
                let id = case.poll.as_ref().unwrap().1.clone();
                let reviewer = app.review_service(Role::Reviewer, &["city"]);
                let start_review = start.clone();
                tasks.push(tokio::spawn(async move {
                    start_review.wait().await;
                    let review = pb::ReviewSubmissionRequest { campaign_id: "c1".into(), submission_id: id, decision: decision.into(), reason: "racing".into() };
                    until_available(|| {
                        let (mut reviewer, review) = (reviewer.clone(), review.clone());
                        async move { reviewer.review_submission(review).await }
                    })
                    .await
                    .expect("reviewed");
                    Vec::new()
                }));
                let seat = app.call_center_service(Role::CallCenter, &["city"]);
                let (number, start) = (case.number.clone(), start.clone());
                tasks.push(tokio::spawn(async move {
                    start.wait().await;
                    for outcome in &planned {
                        let attempt = pb::LogCallAttemptRequest {
                            attempt_id: uuid::Uuid::now_v7().to_string(),
                            campaign_id: "c1".into(),
                            unit_id: outcome.unit.into(),
                            phone_number: number.clone(),
                            carrier: outcome.carrier.into(),
                            attempt_time: Some(ts(outcome.at)),
                            disposition: outcome.disposition.into(),
                        };
                        until_available(|| {
                            let (mut seat, attempt) = (seat.clone(), attempt.clone());
                            async move { seat.log_call_attempt(attempt).await }
                        })
                        .await
                        .expect("attempt logged");
                    }
                    planned
                }));
            }
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            for (i, case) in cases.iter_mut().enumerate() {
                case.attempts.extend(results[2 * i + 1].iter().copied());
                case.poll.as_mut().unwrap().2 = decision == pb::ReviewDecision::Reject;
            }
            assert_rates_follow(&app, &cases, &format!("round {round}")).await;
        }
    }
}
