//! One round of fieldwork, generated from a seeded RNG: door-to-door visits and phone polls
//! whose answers follow each unit's intended level, and the call center's other attempts.

use prost_types::Timestamp;
use rand::Rng;
use uuid::Uuid;

use super::city::{self, Township, Village};
use super::questionnaire::ITEMS;
use crate::proto::v1 as pb;
use crate::proto::v1::upload_submissions_request::Submission;

/// How much fieldwork a round holds.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub villages_per_township: usize,
    pub visits: usize,
    pub polls: usize,
    pub department_polls: usize,
    /// Interviews of the units whose round-2 fieldwork is behind (below the minimum of 30).
    pub short: usize,
}

/// ~300 villages and communities, ~6,000 interviews over both rounds.
pub const FULL: Size = Size {
    villages_per_township: 15,
    visits: 70,
    polls: 50,
    department_polls: 45,
    short: 22,
};

/// 60 villages and communities, ~1,800 interviews: the same story in a few seconds.
pub const SMALL: Size = Size {
    villages_per_township: 3,
    visits: 22,
    polls: 14,
    department_polls: 34,
    short: 20,
};

/// Subscribers of the city's three mobile carriers (5.8万 / 36万 / 24万): phone samples are
/// drawn in these proportions, so the phone sample is self-weighting by carrier.
pub const CARRIERS: [(pb::Carrier, f64, &str); 3] = [
    (pb::Carrier::ChinaTelecom, 58_000.0, "133"),
    (pb::Carrier::ChinaMobile, 360_000.0, "139"),
    (pb::Carrier::ChinaUnicom, 240_000.0, "186"),
];

/// Where the city's visits take place (the city's area is a circle around it).
pub const CENTRE: (f64, f64) = (27.73, 112.53);

/// A township with its ids and villages, as created in the catalog.
pub struct Placed {
    pub township: &'static Township,
    pub id: String,
    pub villages: Vec<(String, Village)>,
}

/// One round to generate.
pub struct Round<'a> {
    /// 1 or 2.
    pub number: u32,
    pub campaign_id: &'a str,
    /// Interviews end in [from, to) (unix seconds); attempts may start up to 3 hours earlier
    /// but not before `opens`.
    pub from: i64,
    pub to: i64,
    pub opens: i64,
    pub size: Size,
}

/// What a round sends: submissions for the upload stream and call attempts for the call center.
#[derive(Default)]
pub struct Fieldwork {
    pub submissions: Vec<pb::UploadSubmissionsRequest>,
    pub attempts: Vec<pb::LogCallAttemptRequest>,
}

/// A standard normal deviate (Box-Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// One respondent's answers to the twelve indicators around `level` (0-100): a respondent
/// effect shared by every answer, noise per answer, and "don't know" at each indicator's rate.
/// A latent value between two options' points picks the higher with the probability that
/// makes the expected points equal the value.
fn answers(level: f64, rng: &mut impl Rng) -> Vec<pb::Answer> {
    let respondent = normal(rng) * 7.0;
    ITEMS
        .iter()
        .map(|item| {
            let option = if rng.random::<f64>() < item.dont_know {
                item.options.iter().find(|o| o.2.is_none())
            } else {
                let x = level + item.offset + respondent + normal(rng) * 14.0;
                let mut scored: Vec<_> = item.options.iter().filter(|o| o.2.is_some()).collect();
                scored.sort_by_key(|o| o.2);
                let points = |o: &&(&str, &str, Option<u32>)| f64::from(o.2.unwrap_or(0));
                let upper = scored.iter().position(|o| points(o) >= x);
                Some(match upper {
                    None => scored[scored.len() - 1],
                    Some(0) => scored[0],
                    Some(i) => {
                        let (lo, hi) = (points(&scored[i - 1]), points(&scored[i]));
                        if rng.random::<f64>() < (x - lo) / (hi - lo) {
                            scored[i]
                        } else {
                            scored[i - 1]
                        }
                    }
                })
            };
            pb::Answer {
                indicator_code: item.code.into(),
                option_code: option.map_or("a", |o| o.0).into(),
            }
        })
        .collect()
}

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn carrier(rng: &mut impl Rng) -> (pb::Carrier, &'static str) {
    let total: f64 = CARRIERS.iter().map(|c| c.1).sum();
    let mut pick = rng.random::<f64>() * total;
    for (carrier, subscribers, prefix) in CARRIERS {
        if pick < subscribers {
            return (carrier, prefix);
        }
        pick -= subscribers;
    }
    (CARRIERS[1].0, CARRIERS[1].2)
}

const GRIEVANCES: [(&str, &str); 6] = [
    ("road_safety", "村口急弯没有警示标志，晚上经常有摩托车出事"),
    ("theft", "最近组里接连有电动车被偷"),
    ("dispute", "与邻居宅基地边界纠纷，村里调解了两次没有结果"),
    ("fraud", "老人接到冒充公检法的诈骗电话"),
    ("street_lights", "路灯坏了半年没人修"),
    ("noise", "砂石场夜间作业噪音太大"),
];

/// Phone numbers are unique within the round (one interview per respondent per campaign): they
/// number everything generated so far.
impl Round<'_> {
    /// A township's interviews and call attempts. Answers come from `answer_rng` alone, so two
    /// townships given equally seeded ones and `twin` answer alike (a tie), whichever villages
    /// their respondents live in.
    pub fn township(
        &self,
        placed: &Placed,
        answer_rng: &mut impl Rng,
        twin: bool,
        rng: &mut impl Rng,
        work: &mut Fieldwork,
    ) {
        let t = placed.township;
        let rank = if self.number == 1 {
            t.round1_rank
        } else {
            t.round2_rank
        };
        let level = city::target_score(rank);
        let (visits, polls) = if self.number == 2 && t.slug == city::ROUND2_SHORT {
            (self.size.short - self.size.short / 3, self.size.short / 3)
        } else {
            (self.size.visits, self.size.polls)
        };
        for i in 0..visits + polls {
            let (village_id, village) =
                &placed.villages[rng.random_range(0..placed.villages.len())];
            let offset = if twin { 0.0 } else { village.offset };
            let answers = answers(level + offset, answer_rng);
            let end = rng.random_range(self.from..self.to);
            if i < visits {
                work.submissions.push(self.visit(
                    village_id,
                    village,
                    (i, twin),
                    end,
                    answers,
                    rng,
                ));
            } else {
                self.poll(village_id, end, answers, rng, work);
            }
        }
        let others = polls * 4 / 5;
        for _ in 0..others {
            let (village_id, _) = &placed.villages[rng.random_range(0..placed.villages.len())];
            self.non_interview(village_id, rng, work);
        }
    }

    pub fn department(
        &self,
        id: &str,
        level: f64,
        short: bool,
        rng: &mut impl Rng,
        work: &mut Fieldwork,
    ) {
        let count = if short {
            self.size.short
        } else {
            self.size.department_polls
        };
        for _ in 0..count {
            let answers = answers(level, rng);
            let end = rng.random_range(self.from..self.to);
            self.poll(id, end, answers, rng, work);
        }
    }

    fn visit(
        &self,
        unit_id: &str,
        village: &Village,
        index: (usize, bool),
        end: i64,
        answers: Vec<pb::Answer>,
        rng: &mut impl Rng,
    ) -> pb::UploadSubmissionsRequest {
        // A few round-2 interviews are far too short: flagged for review, most then rejected.
        // Never a twin's: a rejection would break the tie.
        let (index, twin) = index;
        let seconds = if self.number == 2 && !twin && rng.random::<f64>() < 0.015 {
            20
        } else {
            rng.random_range(8 * 60..20 * 60)
        };
        let grievances = if rng.random::<f64>() < 0.05 {
            let (category, description) = GRIEVANCES[rng.random_range(0..GRIEVANCES.len())];
            vec![pb::GrievanceReport {
                category: category.into(),
                description: description.into(),
                urgency: match rng.random_range(0..4) {
                    0 => pb::Urgency::High,
                    1 | 2 => pb::Urgency::Medium,
                    _ => pb::Urgency::Low,
                }
                .into(),
            }]
        } else {
            Vec::new()
        };
        let visit = pb::SubmitVisitRequest {
            submission_id: Uuid::now_v7().to_string(),
            campaign_id: self.campaign_id.into(),
            unit_id: unit_id.into(),
            household_ref: format!("{} {}组{}号", village.name, index % 12 + 1, index + 1),
            start_time: at(end - seconds),
            end_time: at(end),
            location: Some(pb::GeoLocation {
                latitude: CENTRE.0 + normal(rng) * 0.05,
                longitude: CENTRE.1 + normal(rng) * 0.05,
                accuracy_meters: rng.random_range(4.0..30.0),
            }),
            answers,
            respondent_attributes: Default::default(),
            grievances,
        };
        pb::UploadSubmissionsRequest {
            submission: Some(Submission::Visit(visit)),
        }
    }

    fn phone(&self, work: &Fieldwork, prefix: &str) -> String {
        let serial = work.submissions.len() + work.attempts.len();
        format!(
            "+86{prefix}{:08}",
            10_000_000 * u64::from(self.number) + serial as u64
        )
    }

    fn poll(
        &self,
        unit_id: &str,
        end: i64,
        answers: Vec<pb::Answer>,
        rng: &mut impl Rng,
        work: &mut Fieldwork,
    ) {
        let (carrier, prefix) = carrier(rng);
        let phone_number = self.phone(work, prefix);
        let start = end - rng.random_range(5 * 60..12 * 60);
        // A third of the respondents were reached at a later try.
        if rng.random::<f64>() < 0.33 {
            let disposition = if rng.random() {
                pb::CallDisposition::NoAnswer
            } else {
                pb::CallDisposition::Busy
            };
            let time = (start - rng.random_range(3_600..3 * 3_600)).max(self.opens);
            work.attempts.push(attempt(
                self.campaign_id,
                unit_id,
                &phone_number,
                carrier,
                time,
                disposition,
            ));
        }
        work.submissions.push(pb::UploadSubmissionsRequest {
            submission: Some(Submission::PhonePoll(pb::SubmitPhonePollRequest {
                submission_id: Uuid::now_v7().to_string(),
                campaign_id: self.campaign_id.into(),
                unit_id: unit_id.into(),
                phone_number,
                carrier: carrier.into(),
                start_time: at(start),
                end_time: at(end),
                answers,
                respondent_attributes: Default::default(),
            })),
        });
    }

    /// A case that ended without an interview; China Telecom's subscribers refuse more often.
    fn non_interview(&self, unit_id: &str, rng: &mut impl Rng, work: &mut Fieldwork) {
        use pb::CallDisposition as D;
        const OUTCOMES: [(D, u32); 16] = [
            (D::Refusal, 30),
            (D::BreakOff, 5),
            (D::Partial, 3),
            (D::NonContact, 8),
            (D::AnsweringMachineHousehold, 3),
            (D::Callback, 2),
            (D::LanguageBarrier, 2),
            (D::OtherNonInterview, 3),
            (D::Busy, 8),
            (D::NoAnswer, 20),
            (D::AnsweringMachine, 5),
            (D::UnknownEligibility, 2),
            (D::FaxOrDataLine, 2),
            (D::Disconnected, 6),
            (D::NonResidential, 2),
            (D::NoEligibleRespondent, 2),
        ];
        let (carrier, prefix) = carrier(rng);
        let phone_number = self.phone(work, prefix);
        let total: u32 = OUTCOMES.iter().map(|o| o.1).sum();
        let mut pick = rng.random_range(0..total);
        let mut disposition = D::Refusal;
        for (outcome, share) in OUTCOMES {
            if pick < share {
                disposition = outcome;
                break;
            }
            pick -= share;
        }
        if carrier == pb::Carrier::ChinaTelecom && rng.random::<f64>() < 0.3 {
            disposition = D::Refusal;
        }
        let time = rng.random_range(self.from..self.to);
        if rng.random::<f64>() < 0.4 {
            let first = (time - rng.random_range(3_600..3 * 3_600)).max(self.opens);
            work.attempts.push(attempt(
                self.campaign_id,
                unit_id,
                &phone_number,
                carrier,
                first,
                D::NoAnswer,
            ));
        }
        work.attempts.push(attempt(
            self.campaign_id,
            unit_id,
            &phone_number,
            carrier,
            time,
            disposition,
        ));
    }
}

fn attempt(
    campaign_id: &str,
    unit_id: &str,
    phone_number: &str,
    carrier: pb::Carrier,
    time: i64,
    disposition: pb::CallDisposition,
) -> pb::LogCallAttemptRequest {
    pb::LogCallAttemptRequest {
        attempt_id: Uuid::now_v7().to_string(),
        campaign_id: campaign_id.into(),
        unit_id: unit_id.into(),
        phone_number: phone_number.into(),
        carrier: carrier.into(),
        attempt_time: at(time),
        disposition: disposition.into(),
    }
}
