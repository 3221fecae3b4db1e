//! Timing one aggregate read: sequential calls (p50 / p99), calls right after a commit, and
//! the last reply of each query recorded for the no-op read server.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::noop_reads::Replies;
use super::workload::{Catalog, Device, authed};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;
use crate::proto::v1::submission_service_client::SubmissionServiceClient;

/// One timed query: its request, and p50 / p99 ms (and the no-op's p50) at each size.
pub(super) struct Query {
    pub(super) name: String,
    pub(super) request: Request,
    /// Also timed right after a commit.
    pub(super) fresh: bool,
    pub(super) latencies: Vec<Timing>,
}

#[derive(Clone)]
pub(super) enum Request {
    Score(pb::GetUnitScoreRequest),
    Ranking(pb::ListRankingsRequest),
}

#[derive(Default, Clone, Copy)]
pub(super) struct Timing {
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) noop_p50: f64,
    pub(super) fresh_p50: Option<f64>,
}

pub(super) async fn call(
    channel: &Channel,
    analyst: &MetadataValue<Ascii>,
    request: &Request,
) -> Result<()> {
    let mut client = AggregateServiceClient::new(channel.clone());
    match request {
        Request::Score(r) => client
            .get_unit_score(authed(r.clone(), analyst))
            .await
            .map(drop),
        Request::Ranking(r) => client
            .list_rankings(authed(r.clone(), analyst))
            .await
            .map(drop),
    }
    .map_err(|s| Error::internal(format!("{s:?}")))
}

/// Times `calls` sequential calls and records the last reply.
pub(super) async fn time_query(
    channel: &Channel,
    analyst: &MetadataValue<Ascii>,
    q: &Query,
    calls: usize,
    replies: &mut Replies,
) -> Result<Timing> {
    let (p50, p99) = time_calls(channel, analyst, &q.request, calls).await?;
    let mut client = AggregateServiceClient::new(channel.clone());
    let named = |s: tonic::Status| Error::internal(format!("{}: {s:?}", q.name));
    match &q.request {
        Request::Score(r) => {
            let reply = client
                .get_unit_score(authed(r.clone(), analyst))
                .await
                .map_err(named)?;
            replies.scores.push((r.clone(), reply.into_inner()));
        }
        Request::Ranking(r) => {
            let reply = client
                .list_rankings(authed(r.clone(), analyst))
                .await
                .map_err(named)?;
            replies.rankings.push((r.clone(), reply.into_inner()));
        }
    }
    Ok(Timing {
        p50,
        p99,
        ..Timing::default()
    })
}

/// p50 of `calls` calls, each right after one acknowledged visit to the campaign.
pub(super) async fn time_fresh(
    channel: &Channel,
    analyst: &MetadataValue<Ascii>,
    writer: &MetadataValue<Ascii>,
    q: &Query,
    catalog: &Catalog,
    calls: usize,
) -> Result<f64> {
    let mut submissions = SubmissionServiceClient::new(channel.clone());
    let device = Device {
        township: 0,
        serial: 9_999,
    };
    let mut rng = StdRng::seed_from_u64(11);
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        submissions
            .submit_visit(authed(device.visit(catalog, &mut rng), writer))
            .await
            .map_err(|s| Error::internal(format!("a visit before {}: {s:?}", q.name)))?;
        let started = Instant::now();
        call(channel, analyst, &q.request).await?;
        latencies.push(started.elapsed());
    }
    Ok(percentile(&mut latencies, 0.5))
}

/// (p50, p99) ms of `calls` sequential calls.
pub(super) async fn time_calls(
    channel: &Channel,
    analyst: &MetadataValue<Ascii>,
    request: &Request,
    calls: usize,
) -> Result<(f64, f64)> {
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call(channel, analyst, request).await?;
        latencies.push(started.elapsed());
    }
    Ok((
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    ))
}

fn percentile(latencies: &mut [Duration], q: f64) -> f64 {
    latencies.sort_unstable();
    let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
    latencies[rank - 1].as_secs_f64() * 1000.0
}
