//! Aggregate reads as the data grows: GetUnitScore and ListRankings latency at each size, next
//! to a no-op read of the same request and reply size measured in the same run; with
//! `--province`, a province-sized catalog with two campaigns, the server restarted at each
//! size (timing its start to serving and its first read), and WatchRankings dashboards while
//! submissions arrive.
//!
//! Submissions are loaded straight into the store ([`super::loader`]), so a million takes a
//! minute rather than an hour of RPCs. The server does not see those writes (they bypass its
//! writer), so it is restarted after each load and reads them afresh. The WatchRankings
//! timing is [`super::watchers`].

use std::time::{Duration, Instant};

use super::load::connect;
use super::loader::Loader;
use super::noop_reads::Replies;
use super::province::Province;
use super::read_timing::{Query, Request, Timing, call, time_calls, time_fresh, time_query};
use super::server::ServerProcess;
use super::setup::{ServerArgs, Setup};
use super::watchers;
use super::workload::Catalog;
use crate::auth::Role;
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::store::{Store, StoreOptions};

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
        Some(
            watchers::run(
                &setup,
                &analyst,
                &catalog,
                args.watchers,
                Duration::from_secs(args.watch_seconds),
            )
            .await?,
        )
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
        w.report(args.watch_seconds);
    }
    if let Some(memory) = memory {
        println!(
            "server RSS at the end: {:.1} MiB (peak {:.1} MiB)",
            memory.rss_kib as f64 / 1024.0,
            memory.peak_kib as f64 / 1024.0
        );
    }
}
