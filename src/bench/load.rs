//! The load client: simulated devices calling SubmitVisit in a loop, or streaming their queues
//! through UploadSubmissions, with every call's latency recorded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::server::{cpu_time_of, machine_busy_time};
use super::workload::{Catalog, Device, authed};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::submission_service_client::SubmissionServiceClient;
use crate::proto::v1::upload_submissions_request::Submission;
use crate::proto::v1::upload_submissions_response::Result as ItemResult;

/// Connections opened at once while setting up.
const CONNECT_CONCURRENCY: usize = 64;

/// A simulated device and the token it calls with.
pub struct Caller {
    pub device: Device,
    pub bearer: MetadataValue<Ascii>,
}

/// What a load run achieved.
#[derive(Debug, Default)]
pub struct Outcome {
    pub succeeded: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// Microseconds per call (unary) or per item, send to result (stream).
    latencies: Vec<u32>,
    pub first_error: Option<String>,
    /// CPU time the server process used while measured (when it is a child of this one).
    pub server_cpu: Option<Duration>,
    /// CPU time this process (the load client) used while measured.
    pub client_cpu: Option<Duration>,
    /// CPU time every other process on the machine used meanwhile: another load skews the run.
    pub other_cpu: Option<Duration>,
}

/// CPU time of the server and of this process at one moment.
#[derive(Clone, Copy)]
pub struct CpuSample {
    server: Option<Duration>,
    client: Option<Duration>,
    machine: Option<Duration>,
}

impl CpuSample {
    pub fn now(server_pid: Option<u32>) -> Self {
        Self {
            server: server_pid.and_then(cpu_time_of),
            client: cpu_time_of(std::process::id()),
            machine: machine_busy_time(),
        }
    }
}

impl Outcome {
    /// CPU microseconds per successful submission: (server, client).
    pub fn cpu_per_submission(&self) -> (Option<f64>, Option<f64>) {
        let per = |cpu: Option<Duration>| {
            cpu.filter(|_| self.succeeded > 0)
                .map(|c| c.as_secs_f64() * 1e6 / self.succeeded as f64)
        };
        (per(self.server_cpu), per(self.client_cpu))
    }

    fn set_cpu(&mut self, from: CpuSample, to: CpuSample) {
        let delta = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
        self.server_cpu = delta(from.server, to.server);
        self.client_cpu = delta(from.client, to.client);
        let machine = delta(from.machine, to.machine);
        self.other_cpu = machine.map(|m| {
            m.saturating_sub(
                self.server_cpu.unwrap_or_default() + self.client_cpu.unwrap_or_default(),
            )
        });
    }

    /// Cores other processes kept busy on average while measured.
    pub fn other_cores(&self) -> Option<f64> {
        self.other_cpu
            .map(|c| c.as_secs_f64() / self.elapsed.as_secs_f64().max(f64::EPSILON))
    }

    pub fn per_second(&self) -> f64 {
        self.succeeded as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The `q` quantile of latency (0 < q < 1), in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank =
            ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
        f64::from(self.latencies[rank - 1]) / 1000.0
    }

    fn merge(&mut self, other: Outcome) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn finish(mut self, elapsed: Duration) -> Self {
        self.latencies.sort_unstable();
        self.elapsed = elapsed;
        self
    }

    /// One outcome of several measured rounds: counts, time, CPU and latencies added up.
    pub fn of_rounds(rounds: Vec<Outcome>) -> Self {
        // CPU time is known for the whole run only if it is known for every round.
        let mut total = Outcome {
            server_cpu: Some(Duration::ZERO),
            client_cpu: Some(Duration::ZERO),
            other_cpu: Some(Duration::ZERO),
            ..Outcome::default()
        };
        let add = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
        for round in rounds {
            total.server_cpu = add(total.server_cpu, round.server_cpu);
            total.client_cpu = add(total.client_cpu, round.client_cpu);
            total.other_cpu = add(total.other_cpu, round.other_cpu);
            total.elapsed += round.elapsed;
            total.merge(round);
        }
        total.latencies.sort_unstable();
        total
    }

    fn record(&mut self, latency: Duration) {
        self.latencies
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    fn fail(&mut self, error: String) {
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }
}

/// `count` HTTP/2 connections to `address`, opened concurrently.
pub async fn connect(address: SocketAddr, count: usize) -> Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| Error::internal(format!("endpoint: {e}")))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10));
    futures::stream::iter(0..count)
        .map(|_| {
            let endpoint = endpoint.clone();
            async move { endpoint.connect().await }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .map(|c| c.map_err(|e| Error::internal(format!("connecting to {address}: {e}"))))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Every caller calls SubmitVisit in a loop, one call at a time, for `warmup + duration`;
/// calls that complete within `duration` after the warm-up count.
/// `round` varies the simulated answers and households between rounds of one run.
pub async fn unary(
    channels: &[Channel],
    callers: Vec<Caller>,
    catalog: Arc<Catalog>,
    (warmup, duration): (Duration, Duration),
    server_pid: Option<u32>,
    round: u64,
) -> Outcome {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let from = CpuSample::now(server_pid);
        tokio::time::sleep_until(end.into()).await;
        (from, CpuSample::now(server_pid))
    });
    let tasks: Vec<_> = callers
        .into_iter()
        .enumerate()
        .map(|(i, caller)| {
            let mut client = SubmissionServiceClient::new(channels[i % channels.len()].clone());
            let catalog = catalog.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64((round << 32) | i as u64);
                let mut outcome = Outcome::default();
                loop {
                    let visit = caller.device.visit(&catalog, &mut rng);
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let result = client.submit_visit(authed(visit, &caller.bearer)).await;
                    let done = Instant::now();
                    if done < measure_from || done > end {
                        continue;
                    }
                    match result {
                        Ok(_) => {
                            outcome.succeeded += 1;
                            outcome.record(done - sent);
                        }
                        Err(status) => outcome.fail(format!("{status:?}")),
                    }
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => total.fail(format!("client task: {e}")),
        }
    }
    if let Ok((from, to)) = cpu.await {
        total.set_cpu(from, to);
    }
    total.finish(duration)
}

/// Each caller streams its queue of `per_caller` visits through UploadSubmissions on its own
/// connection, as fast as the server takes them, reading results as they come. Latency is
/// from the moment the client hands an item to its transport to the item's result, so it
/// includes the wait behind the same phone's earlier items.
pub async fn stream(
    channels: &[Channel],
    callers: Vec<Caller>,
    catalog: &Catalog,
    per_caller: &[usize],
    server_pid: Option<u32>,
) -> Outcome {
    let queues: Vec<Vec<pb::UploadSubmissionsRequest>> = callers
        .iter()
        .zip(per_caller)
        .enumerate()
        .map(|(i, (caller, &count))| {
            let mut rng = StdRng::seed_from_u64(i as u64);
            (0..count)
                .map(|_| pb::UploadSubmissionsRequest {
                    submission: Some(Submission::Visit(caller.device.visit(catalog, &mut rng))),
                })
                .collect()
        })
        .collect();
    let cpu_from = CpuSample::now(server_pid);
    let origin = Instant::now();
    let tasks: Vec<_> = callers
        .into_iter()
        .zip(queues)
        .enumerate()
        .map(|(i, (caller, queue))| {
            let client = SubmissionServiceClient::new(channels[i % channels.len()].clone());
            tokio::spawn(upload_queue(client, caller.bearer, queue, origin))
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(outcome) => total.merge(outcome),
            Err(e) => total.fail(format!("phone task: {e}")),
        }
    }
    let elapsed = origin.elapsed();
    total.set_cpu(cpu_from, CpuSample::now(server_pid));
    total.finish(elapsed)
}

async fn upload_queue(
    mut client: SubmissionServiceClient<Channel>,
    bearer: MetadataValue<Ascii>,
    queue: Vec<pb::UploadSubmissionsRequest>,
    origin: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let expected = queue.len();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..expected).map(|_| AtomicU64::new(0)).collect());
    let stamps = sent.clone();
    let items = futures::stream::iter(queue.into_iter().enumerate()).map(move |(i, item)| {
        stamps[i].store(origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
        item
    });
    let mut results = match client.upload_submissions(authed(items, &bearer)).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            outcome.fail(format!("{status:?}"));
            return outcome;
        }
    };
    let mut answered = 0;
    loop {
        match results.message().await {
            Ok(Some(result)) => {
                answered += 1;
                let at = origin.elapsed();
                let index = usize::try_from(result.index).unwrap_or(usize::MAX);
                let sent_at = sent
                    .get(index)
                    .map(|s| Duration::from_nanos(s.load(Ordering::Relaxed)));
                match result.result {
                    Some(ItemResult::Error(error)) => {
                        outcome.fail(format!("item {}: {} {}", index, error.code, error.message));
                    }
                    _ => {
                        outcome.succeeded += 1;
                        if let Some(sent_at) = sent_at {
                            outcome.record(at.saturating_sub(sent_at));
                        }
                    }
                }
            }
            Ok(None) => break,
            Err(status) => {
                outcome.fail(format!("stream: {status:?}"));
                break;
            }
        }
    }
    if answered < expected {
        outcome.fail(format!(
            "{} of {expected} items unanswered",
            expected - answered
        ));
    }
    outcome
}

/// Open UploadSubmissions streams that send nothing: phones that connected and wait.
pub struct IdleStreams {
    streams: Vec<tonic::Streaming<pb::UploadSubmissionsResponse>>,
    close: tokio::sync::watch::Sender<bool>,
    _channels: Vec<Channel>,
}

impl IdleStreams {
    /// Ends every stream (the phones finish sending) and waits until the server has ended them.
    pub async fn close(mut self) {
        let _ = self.close.send(true);
        futures::stream::iter(self.streams.iter_mut())
            .for_each_concurrent(CONNECT_CONCURRENCY, |stream| async move {
                while let Ok(Some(_)) = stream.message().await {}
            })
            .await;
    }
}

/// Opens `bearers.len()` idle streams spread over `channels`.
pub async fn idle_streams(
    channels: Vec<Channel>,
    bearers: Vec<MetadataValue<Ascii>>,
) -> Result<IdleStreams> {
    let (close, closed) = tokio::sync::watch::channel(false);
    let streams = futures::stream::iter(bearers.into_iter().enumerate())
        .map(|(i, bearer)| {
            let mut client = SubmissionServiceClient::new(channels[i % channels.len()].clone());
            let mut closed = closed.clone();
            async move {
                let until_closed = Box::pin(async move {
                    let _ = closed.wait_for(|closed| *closed).await;
                });
                let nothing = futures::stream::pending::<pb::UploadSubmissionsRequest>()
                    .take_until(until_closed);
                client
                    .upload_submissions(authed(nothing, &bearer))
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|s| Error::internal(format!("opening an idle stream: {s:?}")))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(IdleStreams {
        streams,
        close,
        _channels: channels,
    })
}
