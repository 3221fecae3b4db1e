//! Many clients at once: 32 clients send 500 submissions each, and every tenth submission id is
//! sent by two clients at the same moment, half the time with identical content and half the
//! time with conflicting content. Exactly the unique submissions are stored, every client hears
//! the answer that fits its submission, and every aggregate equals a recomputation from the
//! stored raw rows.
//!
//! Measured in a debug build on two cores: ~25 s per backend, both backends at once included;
//! the time goes to waiting for durable commits, not to the CPU.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canvass::auth::Role;
use canvass::domain::channel::Channel;
use canvass::domain::ids::UnitId;
use canvass::proto::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::*;

const CLIENTS: usize = 32;
const PER_CLIENT: usize = 500;
/// Every `SHARE_EVERY`-th submission of a client is also sent by its partner client.
const SHARE_EVERY: usize = 10;
/// Every `POLL_EVERY`-th submission is a phone poll, the others are visits.
const POLL_EVERY: usize = 7;
/// Units submitted for: villages and communities, a township itself, and a department.
const UNITS: [&str; 6] = [
    "jinshi-v1",
    "jinshi-v2",
    "jinshi",
    "dongshan-c1",
    "dongshan-c2",
    "xinfang",
];
const OPTIONS: [(&str, &[&str]); 3] = [
    ("security", &["a", "b", "c", "d", "e", "dk", "refused"]),
    ("police", &["a", "b", "c", "d", "e", "dk"]),
    ("visits", &["a", "b", "refused"]),
];

#[derive(Clone, Debug)]
enum Call {
    Visit(pb::SubmitVisitRequest),
    Poll(pb::SubmitPhonePollRequest),
}

impl Call {
    fn id(&self) -> &str {
        match self {
            Call::Visit(r) => &r.submission_id,
            Call::Poll(r) => &r.submission_id,
        }
    }

    fn unit(&self) -> &str {
        match self {
            Call::Visit(r) => &r.unit_id,
            Call::Poll(r) => &r.unit_id,
        }
    }

    fn answers(&self) -> &[pb::Answer] {
        match self {
            Call::Visit(r) => &r.answers,
            Call::Poll(r) => &r.answers,
        }
    }

    fn answers_mut(&mut self) -> &mut Vec<pb::Answer> {
        match self {
            Call::Visit(r) => &mut r.answers,
            Call::Poll(r) => &mut r.answers,
        }
    }

    fn set_unit(&mut self, unit: &str) {
        match self {
            Call::Visit(r) => r.unit_id = unit.into(),
            Call::Poll(r) => r.unit_id = unit.into(),
        }
    }

    fn channel(&self) -> Channel {
        match self {
            Call::Visit(_) => Channel::Visit,
            Call::Poll(_) => Channel::Phone,
        }
    }
}

/// Whether a submission id is sent by one client, or by two with the same or other content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Sharing {
    Alone,
    Identical,
    Conflicting,
}

#[derive(Clone, Debug)]
struct Planned {
    call: Call,
    sharing: Sharing,
}

/// A fixed-seed xorshift generator keeps the workload reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

fn random_call(rng: &mut Rng, index: usize, serial: usize) -> Call {
    let unit = UNITS[rng.below(UNITS.len())];
    let mut answers = Vec::new();
    for (code, options) in OPTIONS {
        if rng.below(5) > 0 {
            answers.push(answer(code, options[rng.below(options.len())]));
        }
    }
    if answers.is_empty() {
        answers.push(answer("visits", "a"));
    }
    if index % POLL_EVERY == 3 {
        let number = format!("+86139{serial:08}");
        Call::Poll(phone_poll("c1", unit, &number, answers))
    } else {
        Call::Visit(visit("c1", unit, answers))
    }
}

/// The same submission id with other content: another option for the first answer and, for
/// every other conflict, another unit.
fn conflicting(call: &Call, other_unit: bool) -> Call {
    let mut other = call.clone();
    let first = &mut other.answers_mut()[0];
    let options = OPTIONS
        .iter()
        .find(|(code, _)| *code == first.indicator_code)
        .map(|(_, options)| *options)
        .expect("answers use the plan's indicators");
    let at = options
        .iter()
        .position(|o| *o == first.option_code)
        .unwrap();
    first.option_code = options[(at + 1) % options.len()].into();
    if other_unit {
        let at = UNITS.iter().position(|u| *u == call.unit()).unwrap();
        other.set_unit(UNITS[(at + 1) % UNITS.len()]);
    }
    other
}

/// One list of `PER_CLIENT` calls per client. Clients 2k and 2k+1 are partners: at every
/// `SHARE_EVERY`-th position both send the same submission id, alternately with identical and
/// with conflicting content.
fn plan() -> Vec<Vec<Planned>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut serial = 0;
    let mut next_call = |rng: &mut Rng, index| {
        serial += 1;
        random_call(rng, index, serial)
    };
    let mut plans: Vec<Vec<Planned>> = (0..CLIENTS)
        .map(|_| Vec::with_capacity(PER_CLIENT))
        .collect();
    for pair in 0..CLIENTS / 2 {
        let (a, b) = (2 * pair, 2 * pair + 1);
        for index in 0..PER_CLIENT {
            if index % SHARE_EVERY == 0 {
                let call = next_call(&mut rng, index);
                let shared = index / SHARE_EVERY;
                let (sharing, other) = if shared.is_multiple_of(2) {
                    (Sharing::Identical, call.clone())
                } else {
                    (Sharing::Conflicting, conflicting(&call, shared % 4 == 1))
                };
                plans[a].push(Planned { call, sharing });
                plans[b].push(Planned {
                    call: other,
                    sharing,
                });
            } else {
                for client in [a, b] {
                    let call = next_call(&mut rng, index);
                    plans[client].push(Planned {
                        call,
                        sharing: Sharing::Alone,
                    });
                }
            }
        }
    }
    plans
}

/// An acknowledgement, or the code and ErrorInfo reason of a refusal.
type Outcome = Result<pb::Acknowledgement, (Code, String)>;

/// Sends `plan` in order, one call at a time, meeting its partner at `barrier` before every
/// shared submission so that both copies are in flight together.
async fn run_client(
    app: &TestApp,
    client: usize,
    plan: Vec<Planned>,
    barrier: Arc<Barrier>,
) -> Vec<(Planned, Outcome)> {
    // Each client has its own identity; the content hash ignores the submitter, so partners
    // sending the same content are retries of each other.
    let token = |role| {
        let units = [UnitId::parse("city").unwrap()];
        app.issuer
            .mint(
                &format!("client-{client}"),
                role,
                &units,
                Duration::from_secs(3600),
            )
            .unwrap()
    };
    let mut visits = app.submissions_as(Some(&token(Role::FieldWorker)));
    let mut polls = app.submissions_as(Some(&token(Role::CallCenter)));
    let mut outcomes = Vec::with_capacity(plan.len());
    for planned in plan {
        if planned.sharing != Sharing::Alone {
            barrier.wait().await;
        }
        let result = match planned.call.clone() {
            Call::Visit(r) => visits
                .submit_visit(r)
                .await
                .map(|r| r.into_inner().acknowledgement),
            Call::Poll(r) => polls
                .submit_phone_poll(r)
                .await
                .map(|r| r.into_inner().acknowledgement),
        };
        let outcome = match result {
            Ok(ack) => Ok(ack.expect("a success carries an acknowledgement")),
            Err(status) => {
                let reason = status
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default();
                Err((status.code(), reason))
            }
        };
        outcomes.push((planned, outcome));
    }
    outcomes
}

per_backend! {
    async fn concurrent_clients_store_each_submission_once_and_aggregates_match_the_rows(app: TestApp) {
        app.seed().await;
        let app = Arc::new(app);
        let barriers: Vec<_> = (0..CLIENTS / 2).map(|_| Arc::new(Barrier::new(2))).collect();
        let started = Instant::now();
        let mut clients = Vec::new();
        for (client, plan) in plan().into_iter().enumerate() {
            let app = Arc::clone(&app);
            let barrier = Arc::clone(&barriers[client / 2]);
            clients.push(tokio::spawn(async move { run_client(&app, client, plan, barrier).await }));
        }
        let mut sent: HashMap<String, Vec<(Planned, Outcome)>> = HashMap::new();
        for client in clients {
            for (planned, outcome) in client.await.expect("client task") {
                sent.entry(planned.call.id().to_owned()).or_default().push((planned, outcome));
            }
        }
        let backend = app.database_url.split(':').next().unwrap_or_default();
        eprintln!("{backend}: {} submissions from {CLIENTS} clients in {:?}", CLIENTS * PER_CLIENT, started.elapsed());

        // Every client heard the answer that fits; the acknowledged content is what must be stored.
        let mut expected: HashMap<String, Call> = HashMap::new();
        let mut count = HashMap::<Sharing, usize>::new();
        for (id, copies) in &sent {
            let sharing = copies[0].0.sharing;
            *count.entry(sharing).or_default() += 1;
            let acked: Vec<_> = copies.iter().filter(|(_, outcome)| outcome.is_ok()).collect();
            let refused: Vec<_> = copies.iter().filter_map(|(_, outcome)| outcome.as_ref().err()).collect();
            match sharing {
                Sharing::Alone => {
                    assert_eq!((copies.len(), refused.as_slice()), (1, [].as_slice()), "{id}");
                }
                Sharing::Identical => {
                    assert_eq!((copies.len(), refused.as_slice()), (2, [].as_slice()), "{id}");
                    assert_eq!(acked[0].1, acked[1].1, "{id}: both copies get the same acknowledgement");
                }
                Sharing::Conflicting => {
                    assert_eq!(copies.len(), 2, "{id}");
                    assert_eq!(acked.len(), 1, "{id}: exactly one copy is acknowledged: {copies:?}");
                    assert_eq!(refused, [&(Code::AlreadyExists, "SUBMISSION_ID_REUSED".to_owned())], "{id}");
                }
            }
            let (winner, ack) = acked[0];
            let ack = ack.as_ref().expect("acknowledged");
            assert_eq!(&ack.submission_id, id);
            assert!(ack.accept_time.is_some(), "{id}");
            expected.insert(id.clone(), winner.call.clone());
        }
        // Per pair of clients, shared positions alternate identical, conflicting, identical …
        let shared = PER_CLIENT.div_ceil(SHARE_EVERY);
        let pairs = CLIENTS / 2;
        assert_eq!(count.get(&Sharing::Identical), Some(&(pairs * shared.div_ceil(2))));
        assert_eq!(count.get(&Sharing::Conflicting).copied().unwrap_or(0), pairs * (shared / 2));
        assert_eq!(expected.len(), CLIENTS * PER_CLIENT - pairs * shared);

        // Exactly the unique submissions are stored, each with the acknowledged content.
        let stored = stored_submissions(&app, "c1").await;
        assert_eq!(stored.len(), expected.len());
        for row in &stored {
            let id = row.submission_id.to_string();
            let call = expected.remove(&id).unwrap_or_else(|| panic!("{id} is stored twice or was never sent"));
            let answers: BTreeMap<String, String> = call
                .answers()
                .iter()
                .map(|a| (a.indicator_code.clone(), a.option_code.clone()))
                .collect();
            assert_eq!((row.unit_id.as_str(), row.channel, &row.answers), (call.unit(), call.channel(), &answers), "{id}");
        }
        assert!(expected.is_empty(), "{} acknowledged submissions are not stored", expected.len());

        assert_scores_match_stored(&app, "c1").await;
    }
}
