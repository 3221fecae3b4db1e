//! Aggregate reads as the data grows: GetUnitScore and ListRankings latency at each size.
//!
//! Submissions are loaded straight through `Store::commit_submissions` in batches of 1,000
//! (the writer's own code path, without the network in front), after the same validation the
//! API applies, so a million takes a minute rather than an hour of RPCs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tonic::transport::Channel;

use super::load::connect;
use super::setup::{ServerArgs, Setup};
use super::workload::{Catalog, Device, authed};
use crate::api::convert::visit_draft;
use crate::auth::Role;
use crate::domain::ids::CampaignId;
use crate::domain::intake::resolve;
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;
use crate::store::{Store, StoreOptions};

const BATCH: usize = 1_000;

#[derive(clap::Args)]
pub struct AggregatesArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Stored submissions at which latencies are measured, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 1_000_000])]
    sizes: Vec<u64>,
    /// Calls timed per query and size.
    #[arg(long, default_value_t = 200)]
    calls: usize,
}

struct Query {
    name: String,
    /// p50 and p99 in milliseconds at each size.
    latencies: Vec<(f64, f64)>,
}

pub async fn run(args: &AggregatesArgs) -> Result<()> {
    let setup = Setup::start(&args.server).await?;
    let catalog = Catalog::new(&format!(
        "b{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    ));
    let channel = connect(setup.address, 1).await?.remove(0);
    catalog.create(channel.clone(), setup.admin()).await?;
    let url = setup
        .database_url
        .clone()
        .ok_or_else(|| Error::internal("the aggregates mode starts its own server"))?;
    let store = Store::open(&StoreOptions {
        url,
        max_connections: 2,
        acquire_timeout: Duration::from_secs(30),
    })
    .await?;
    let mut loader = Loader::new(store, &catalog).await?;
    let analyst = setup.device_token("bench-analyst", Role::Analyst, &[])?;
    let mut queries: Vec<Query> = Vec::new();
    for &size in &args.sizes {
        let started = Instant::now();
        let added = loader.fill_to(&catalog, size).await?;
        let took = started.elapsed();
        eprintln!(
            "loaded {added} submissions in {:.1} s ({:.0}/s); {} stored",
            took.as_secs_f64(),
            added as f64 / took.as_secs_f64().max(f64::EPSILON),
            loader.stored
        );
        let results = measure(channel.clone(), &analyst, &catalog, args.calls).await?;
        for (i, (name, p50, p99)) in results.into_iter().enumerate() {
            if queries.len() <= i {
                queries.push(Query {
                    name,
                    latencies: Vec::new(),
                });
            }
            queries[i].latencies.push((p50, p99));
        }
    }
    let memory = setup.server_memory();
    setup.finish().await?;

    println!(
        "canvass bench aggregates: {}; 1,000 units (city, 30 townships, 969 villages), 12 indicators; {} sequential calls per query and size; server in a child process",
        loader.store_label, args.calls
    );
    println!();
    let header: Vec<String> = args
        .sizes
        .iter()
        .map(|s| format!("{s} p50 / p99 ms"))
        .collect();
    println!("| query | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(args.sizes.len()));
    for q in &queries {
        let cells: Vec<String> = q
            .latencies
            .iter()
            .map(|(p50, p99)| format!("{p50:.2} / {p99:.2}"))
            .collect();
        println!("| {} | {} |", q.name, cells.join(" | "));
    }
    if let (Some(first), Some(last)) = (args.sizes.first(), args.sizes.last())
        && first != last
    {
        println!();
        for q in &queries {
            let (a, b) = (q.latencies[0].0, q.latencies[q.latencies.len() - 1].0);
            println!("{}: p50 at {last} / at {first} = {:.2}", q.name, b / a);
        }
    }
    if let Some(memory) = memory {
        println!();
        println!(
            "server peak RSS: {:.1} MiB",
            memory.peak_kib as f64 / 1024.0
        );
    }
    Ok(())
}

/// Generates validated submissions and commits them in batches.
pub(super) struct Loader {
    store: Store,
    pub(super) store_label: &'static str,
    snapshot: Arc<crate::catalog::Snapshot>,
    campaign_id: CampaignId,
    devices: Vec<Device>,
    rng: StdRng,
    pub(super) stored: u64,
}

impl Loader {
    pub(super) async fn new(store: Store, catalog: &Catalog) -> Result<Self> {
        let store_label = store.name();
        let snapshot = crate::catalog::Catalog::load(store.clone())
            .await?
            .snapshot();
        let campaign_id = CampaignId::parse(&catalog.campaign_id)
            .map_err(|e| Error::internal(format!("campaign id: {e}")))?;
        let devices = (0..catalog.townships.len())
            .map(|township| Device {
                township,
                serial: township,
            })
            .collect();
        Ok(Self {
            store,
            store_label,
            snapshot,
            campaign_id,
            devices,
            rng: StdRng::seed_from_u64(7),
            stored: 0,
        })
    }

    pub(super) async fn fill_to(&mut self, catalog: &Catalog, size: u64) -> Result<u64> {
        let (campaign, questionnaire) = self
            .snapshot
            .campaign_with_questionnaire(&self.campaign_id)?;
        let start = self.stored;
        while self.stored < size {
            let now = Timestamp::now();
            let count = BATCH.min((size - self.stored) as usize);
            let batch = (0..count)
                .map(|i| {
                    let device = &self.devices[(self.stored as usize + i) % self.devices.len()];
                    let draft = visit_draft(device.visit(catalog, &mut self.rng))?;
                    resolve(
                        draft,
                        &campaign,
                        &questionnaire,
                        &self.snapshot.units,
                        now,
                        "bench",
                    )
                })
                .collect::<Result<Vec<NewSubmission>>>()?;
            let refs: Vec<&NewSubmission> = batch.iter().collect();
            self.store
                .commit_submissions(&refs, now, &crate::ingest::admit)
                .await?;
            self.stored += count as u64;
        }
        Ok(self.stored - start)
    }
}

/// (query, p50 ms, p99 ms) for each query, `calls` sequential calls each.
async fn measure(
    channel: Channel,
    analyst: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    catalog: &Catalog,
    calls: usize,
) -> Result<Vec<(String, f64, f64)>> {
    let mut client = AggregateServiceClient::new(channel);
    let village = catalog.villages[0][0].clone();
    let score = |unit: String| pb::GetUnitScoreRequest {
        campaign_id: catalog.campaign_id.clone(),
        unit_id: unit,
    };
    let ranking = pb::ListRankingsRequest {
        campaign_id: catalog.campaign_id.clone(),
        scope_unit_id: catalog.city.clone(),
        unit_kind: pb::UnitKind::Village.into(),
        page_size: 100,
        ..Default::default()
    };
    let mut results = Vec::new();
    for (name, which) in [
        ("GetUnitScore (city)", 0),
        ("GetUnitScore (village)", 1),
        ("ListRankings (969 villages, first page of 100)", 2),
    ] {
        let mut latencies = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            let outcome = match which {
                0 => client
                    .get_unit_score(authed(score(catalog.city.clone()), analyst))
                    .await
                    .map(drop),
                1 => client
                    .get_unit_score(authed(score(village.clone()), analyst))
                    .await
                    .map(drop),
                _ => client
                    .list_rankings(authed(ranking.clone(), analyst))
                    .await
                    .map(drop),
            };
            outcome.map_err(|s| Error::internal(format!("{name}: {s:?}")))?;
            latencies.push(started.elapsed());
        }
        latencies.sort_unstable();
        let at = |q: f64| {
            let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
            latencies[rank - 1].as_secs_f64() * 1000.0
        };
        results.push((name.to_owned(), at(0.5), at(0.99)));
    }
    Ok(results)
}
