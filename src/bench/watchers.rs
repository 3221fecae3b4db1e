//! WatchRankings dashboards while submissions arrive: how long after a commit each watcher's
//! update comes.
//!
//! Submitters record when each of their visits was acknowledged. A watcher's update is timed
//! against the earliest acknowledgement since its previous update: the oldest commit that
//! update may be the first to show, so the figure is the staleness a dashboard lives with
//! (the server coalesces a burst of commits into one update per 250 ms).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::load::connect;
use super::setup::Setup;
use super::workload::{Catalog, Device, authed};
use crate::auth::Role;
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;
use crate::proto::v1::submission_service_client::SubmissionServiceClient;

pub struct WatchFigures {
    pub watchers: usize,
    /// Updates timed (those with a commit since the watcher's previous one).
    pub updates: usize,
    pub submitted: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl WatchFigures {
    /// The report's line for these figures, `watch_seconds` being how long submissions came.
    pub fn report(&self, watch_seconds: u64) {
        println!(
            "WatchRankings (villages, first 100): {} watchers, {} visits submitted in {} s, {} updates timed; commit to update p50 {:.0} ms, p99 {:.0} ms",
            self.watchers, self.submitted, watch_seconds, self.updates, self.p50_ms, self.p99_ms
        );
    }
}

/// WatchRankings of the villages under the root from `watchers` streams while four field
/// workers submit for `period`.
pub async fn run(
    setup: &Setup,
    analyst: &MetadataValue<Ascii>,
    catalog: &Catalog,
    watchers: usize,
    period: Duration,
) -> Result<WatchFigures> {
    let channels = connect(setup.address, 4).await?;
    let mut submitters = Vec::new();
    for (n, channel) in connect(setup.address, 4).await?.into_iter().enumerate() {
        let township = n * catalog.townships.len() / 4;
        let unit = UnitId::parse(&catalog.townships[township])
            .map_err(|e| Error::internal(format!("township id: {e}")))?;
        let token = setup.device_token(&format!("bench-watch-{n}"), Role::FieldWorker, &[unit])?;
        submitters.push((
            channel,
            token,
            Device {
                township,
                serial: n,
            },
        ));
    }
    let request = pb::WatchRankingsRequest {
        campaign_id: catalog.campaign_id.clone(),
        scope_unit_id: catalog.city.clone(),
        unit_kind: pb::UnitKind::Village.into(),
        page_size: 100,
        ..Default::default()
    };
    measure(
        &channels, analyst, request, watchers, submitters, catalog, period,
    )
    .await
}

/// Opens `watchers` streams on the ranking `request` names, then submits for `period` from
/// `submitters` (each a channel and a field worker's token) and times every update.
async fn measure(
    channels: &[Channel],
    analyst: &MetadataValue<Ascii>,
    request: pb::WatchRankingsRequest,
    watchers: usize,
    submitters: Vec<(Channel, MetadataValue<Ascii>, Device)>,
    catalog: &Catalog,
    period: Duration,
) -> Result<WatchFigures> {
    let acks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut streams = Vec::with_capacity(watchers);
    for i in 0..watchers {
        let mut client = AggregateServiceClient::new(channels[i % channels.len()].clone());
        let mut stream = client
            .watch_rankings(authed(request.clone(), analyst))
            .await
            .map_err(|s| Error::internal(format!("WatchRankings: {s:?}")))?
            .into_inner();
        // The current ranking comes first.
        stream
            .next()
            .await
            .ok_or_else(|| Error::internal("WatchRankings ended at once"))?
            .map_err(|s| Error::internal(format!("WatchRankings: {s:?}")))?;
        streams.push(stream);
    }
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let (acks, latencies) = (acks.clone(), latencies.clone());
            tokio::spawn(async move {
                let mut last = Instant::now();
                while let Some(Ok(_)) = stream.next().await {
                    let now = Instant::now();
                    let first = {
                        let acks = acks.lock().expect("no panic holds the ack list");
                        let i = acks.partition_point(|a| *a <= last);
                        acks.get(i).copied().filter(|a| *a < now)
                    };
                    if let Some(first) = first {
                        latencies
                            .lock()
                            .expect("no panic holds the latency list")
                            .push(now - first);
                    }
                    last = now;
                }
            })
        })
        .collect();
    let deadline = Instant::now() + period;
    let submitting: Vec<_> = submitters
        .into_iter()
        .enumerate()
        .map(|(n, (channel, token, device))| {
            let acks = acks.clone();
            let catalog = catalog.clone();
            tokio::spawn(async move {
                let mut client = SubmissionServiceClient::new(channel);
                let mut rng = StdRng::seed_from_u64(n as u64);
                let mut sent = 0usize;
                while Instant::now() < deadline {
                    let visit = device.visit(&catalog, &mut rng);
                    if client.submit_visit(authed(visit, &token)).await.is_ok() {
                        acks.lock()
                            .expect("no panic holds the ack list")
                            .push(Instant::now());
                        sent += 1;
                    }
                }
                sent
            })
        })
        .collect();
    let mut submitted = 0;
    for task in submitting {
        submitted += task.await.unwrap_or(0);
    }
    // The last commits' updates, then the streams close.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for task in tasks {
        task.abort();
    }
    let mut latencies = latencies.lock().expect("no panic holds the list").clone();
    latencies.sort_unstable();
    let at = |q: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1].as_secs_f64() * 1000.0
    };
    Ok(WatchFigures {
        watchers,
        updates: latencies.len(),
        submitted,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    })
}
