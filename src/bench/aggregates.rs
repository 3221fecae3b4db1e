//! Aggregate reads as the data grows: GetUnitScore and ListRankings latency at each size, next
//! to a no-op read of the same request and reply size measured in the same run; with
//! `--province`, a province-sized catalog with two campaigns, the server restarted at each
//! size (timing its start to serving and its first read), and WatchRankings dashboards while
//! submissions arrive.
//!
//! Submissions are loaded straight through `Store::commit_submissions` in batches of 1,000
//! (the writer's own code path, without the network in front), after the same validation the
//! API applies, so a million takes a minute rather than an hour of RPCs. The server does not
//! see those writes (they bypass its writer), so it is restarted after each load and reads
//! them afresh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tonic::transport::Channel;

use super::load::connect;
use super::noop_reads::Replies;
use super::province::Province;
use super::server::ServerProcess;
use super::setup::{ServerArgs, Setup};
use super::watchers;
use super::workload::{Catalog, Device, authed};
use crate::api::convert::visit_draft;
use crate::auth::Role;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::intake::resolve;
use crate::domain::submission::NewSubmission;
use crate::domain::time::Timestamp;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;
use crate::proto::v1::submission_service_client::SubmissionServiceClient;
use crate::store::{Store, StoreOptions};

const BATCH: usize = 1_000;

#[derive(clap::Args)]
pub struct AggregatesArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Stored submissions at which latencies are measured, ascending (with --province, split
    /// evenly over the two campaigns).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 1_000_000])]
    sizes: Vec<u64>,
    /// Calls timed per query and size.
    #[arg(long, default_value_t = 200)]
    calls: usize,
    /// Calls timed per ranking right after a commit (each then computes the ranking afresh).
    #[arg(long, default_value_t = 20)]
    fresh_calls: usize,
    /// A province: 1 province, 14 prefectures, 120 counties, 2,000 townships, 25,000 villages,
    /// two campaigns (the later compared with the earlier).
    #[arg(long)]
    province: bool,
    /// WatchRankings streams open at the last size while submissions arrive (0: none).
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// How long submissions arrive while the watchers watch.
    #[arg(long, default_value_t = 10)]
    watch_seconds: u64,
}

/// One timed query: its request, and p50 / p99 ms (and the no-op's p50) at each size.
struct Query {
    name: String,
    request: Request,
    /// Also timed right after a commit.
    fresh: bool,
    latencies: Vec<Timing>,
}

#[derive(Clone)]
enum Request {
    Score(pb::GetUnitScoreRequest),
    Ranking(pb::ListRankingsRequest),
}

#[derive(Default, Clone, Copy)]
struct Timing {
    p50: f64,
    p99: f64,
    noop_p50: f64,
    fresh_p50: Option<f64>,
}

/// What one size measured besides the queries.
struct SizeFigures {
    size: u64,
    start_to_serving: Option<Duration>,
    first_read: Duration,
    rss_mib: f64,
    peak_mib: f64,
}

fn queries(catalog: &Catalog, province: Option<&Province>) -> Vec<Query> {
    let score = |name: &str, unit: &str| Query {
        name: name.to_owned(),
        request: Request::Score(pb::GetUnitScoreRequest {
            campaign_id: catalog.campaign_id.clone(),
            unit_id: unit.to_owned(),
        }),
        fresh: false,
        latencies: Vec::new(),
    };
    let ranking = |name: &str, kind: pb::UnitKind| Query {
        name: name.to_owned(),
        request: Request::Ranking(pb::ListRankingsRequest {
            campaign_id: catalog.campaign_id.clone(),
            scope_unit_id: catalog.city.clone(),
            unit_kind: kind.into(),
            page_size: 100,
            ..Default::default()
        }),
        fresh: true,
        latencies: Vec::new(),
    };
    let village = &catalog.villages[0][0];
    match province {
        None => vec![
            score("GetUnitScore (city)", &catalog.city),
            score("GetUnitScore (village)", village),
            ranking(
                "ListRankings (969 villages, first page of 100)",
                pb::UnitKind::Village,
            ),
        ],
        Some(p) => vec![
            ranking(
                "ListRankings (120 counties, first page of 100)",
                pb::UnitKind::County,
            ),
            ranking(
                "ListRankings (2,000 townships, first page of 100)",
                pb::UnitKind::Township,
            ),
            ranking(
                "ListRankings (25,000 villages, first page of 100)",
                pb::UnitKind::Village,
            ),
            score("GetUnitScore (village)", village),
            score("GetUnitScore (county)", &p.counties[0]),
            score("GetUnitScore (province)", &catalog.city),
        ],
    }
}

pub async fn run(args: &AggregatesArgs) -> Result<()> {
    let mut setup = Setup::start(&args.server).await?;
    let tag = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let province = args.province.then(|| Province::new(&tag));
    let catalog = match &province {
        Some(p) => p.catalog.clone(),
        None => Catalog::new(&tag),
    };
    let channel = connect(setup.address, 1).await?.remove(0);
    match &province {
        Some(p) => p.create(channel.clone(), setup.admin()).await?,
        None => catalog.create(channel.clone(), setup.admin()).await?,
    }
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
    let campaigns: Vec<String> = catalog
        .earlier_campaign_id
        .iter()
        .chain([&catalog.campaign_id])
        .cloned()
        .collect();
    let mut loaders = Vec::with_capacity(campaigns.len());
    for id in &campaigns {
        loaders.push(Loader::new(store.clone(), &catalog, id).await?);
    }
    let store_label = store.name();
    let analyst = setup.device_token("bench-analyst", Role::Analyst, &[])?;
    let writer = setup.device_token(
        "bench-fresh",
        Role::FieldWorker,
        &[UnitId::parse(&catalog.townships[0])
            .map_err(|e| Error::internal(format!("township id: {e}")))?],
    )?;
    let mut queries = queries(&catalog, province.as_ref());
    let mut sizes = Vec::new();
    for &size in &args.sizes {
        let started = Instant::now();
        let mut added = 0;
        for loader in &mut loaders {
            added += loader
                .fill_to(&catalog, size / campaigns.len() as u64)
                .await?;
        }
        let took = started.elapsed();
        eprintln!(
            "loaded {added} submissions in {:.1} s ({:.0}/s); {size} stored",
            took.as_secs_f64(),
            added as f64 / took.as_secs_f64().max(f64::EPSILON),
        );
        // The loads bypassed the server: a fresh one reads them.
        let start_to_serving = Some(setup.restart().await?);
        let channel = connect(setup.address, 1).await?.remove(0);
        let first = Instant::now();
        call(&channel, &analyst, &queries[0].request).await?;
        let first_read = first.elapsed();
        let mut replies = Replies::default();
        for q in &mut queries {
            let timing = time_query(&channel, &analyst, q, args.calls, &mut replies).await?;
            let fresh_p50 = if q.fresh && args.fresh_calls > 0 {
                Some(time_fresh(&channel, &analyst, &writer, q, &catalog, args.fresh_calls).await?)
            } else {
                None
            };
            q.latencies.push(Timing {
                fresh_p50,
                ..timing
            });
        }
        // The ceiling, with the replies just recorded.
        let path = setup.scratch_path().join(format!("replies-{size}"));
        replies.write(&path)?;
        let noop = ServerProcess::noop_reads(&path)?;
        let noop_channel = connect(noop.address, 1).await?.remove(0);
        for q in &mut queries {
            let p50 = time_calls(&noop_channel, &analyst, &q.request, args.calls)
                .await?
                .0;
            q.latencies.last_mut().expect("timed above").noop_p50 = p50;
        }
        noop.stop().await?;
        let memory = setup.server_memory().unwrap_or_default();
        sizes.push(SizeFigures {
            size,
            start_to_serving,
            first_read,
            rss_mib: memory.rss_kib as f64 / 1024.0,
            peak_mib: memory.peak_kib as f64 / 1024.0,
        });
    }
    let watch = if args.watchers > 0 {
        Some(watch(&setup, &analyst, &catalog, args).await?)
    } else {
        None
    };
    let memory = setup.server_memory();
    setup.finish().await?;
    report(
        args,
        store_label,
        province.is_some(),
        &queries,
        &sizes,
        watch,
        memory,
    );
    Ok(())
}

/// WatchRankings of the villages under the root while field workers submit.
async fn watch(
    setup: &Setup,
    analyst: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    catalog: &Catalog,
    args: &AggregatesArgs,
) -> Result<watchers::WatchFigures> {
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
    watchers::measure(
        &channels,
        analyst,
        request,
        args.watchers,
        submitters,
        catalog,
        Duration::from_secs(args.watch_seconds),
    )
    .await
}

fn report(
    args: &AggregatesArgs,
    store_label: &str,
    province: bool,
    queries: &[Query],
    sizes: &[SizeFigures],
    watch: Option<watchers::WatchFigures>,
    memory: Option<super::server::Memory>,
) {
    let shape = if province {
        "27,135 units (1 province, 14 prefectures, 120 counties, 2,000 townships, 25,000 villages), two campaigns"
    } else {
        "1,000 units (city, 30 townships, 969 villages), one campaign"
    };
    println!(
        "canvass bench aggregates: {store_label}; {shape}; 12 indicators; {} sequential calls per query and size (no-op read: same requests, recorded replies); server in a child process",
        args.calls
    );
    println!();
    for (i, size) in sizes.iter().enumerate() {
        println!("{} submissions:", size.size);
        println!(
            "| query | p50 / p99 ms | no-op p50 ms | p50 / no-op | p50 right after a commit |"
        );
        println!("|---|---|---|---|---|");
        for q in queries {
            let t = q.latencies[i];
            let fresh = t
                .fresh_p50
                .map_or_else(|| "—".to_owned(), |f| format!("{f:.2} ms"));
            println!(
                "| {} | {:.2} / {:.2} | {:.3} | {:.1}× | {fresh} |",
                q.name,
                t.p50,
                t.p99,
                t.noop_p50,
                t.p50 / t.noop_p50
            );
        }
        if let Some(start) = size.start_to_serving {
            println!(
                "start to serving {:.2} s; first read after it ({}) {:.1} ms; server RSS {:.1} MiB (peak {:.1})",
                start.as_secs_f64(),
                queries[0].name,
                size.first_read.as_secs_f64() * 1000.0,
                size.rss_mib,
                size.peak_mib
            );
        }
        println!();
    }
    if let (Some(first), Some(last)) = (sizes.first(), sizes.last())
        && first.size != last.size
    {
        for q in queries {
            let (a, b) = (q.latencies[0].p50, q.latencies[sizes.len() - 1].p50);
            println!(
                "{}: p50 at {} / at {} = {:.2}",
                q.name,
                last.size,
                first.size,
                b / a
            );
        }
        println!();
    }
    if let Some(w) = watch {
        println!(
            "WatchRankings (villages, first 100): {} watchers, {} visits submitted in {} s, {} updates timed; commit to update p50 {:.0} ms, p99 {:.0} ms",
            w.watchers, w.submitted, args.watch_seconds, w.updates, w.p50_ms, w.p99_ms
        );
    }
    if let Some(memory) = memory {
        println!(
            "server RSS at the end: {:.1} MiB (peak {:.1} MiB)",
            memory.rss_kib as f64 / 1024.0,
            memory.peak_kib as f64 / 1024.0
        );
    }
}

async fn call(
    channel: &Channel,
    analyst: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
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
async fn time_query(
    channel: &Channel,
    analyst: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
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
async fn time_fresh(
    channel: &Channel,
    analyst: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    writer: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
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
async fn time_calls(
    channel: &Channel,
    analyst: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
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
    pub(super) async fn new(store: Store, catalog: &Catalog, campaign: &str) -> Result<Self> {
        let store_label = store.name();
        let snapshot = crate::catalog::Catalog::load(store.clone())
            .await?
            .snapshot();
        let campaign_id = CampaignId::parse(campaign)
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
                    let mut visit = device.visit(catalog, &mut self.rng);
                    visit.campaign_id = self.campaign_id.as_str().to_owned();
                    let draft = visit_draft(visit)?;
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
