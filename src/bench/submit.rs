//! The submission modes: unary SubmitVisit and streamed UploadSubmissions, each measured
//! against Canvass and then, with the same client, against the no-op ceiling.

use std::sync::Arc;
use std::time::Duration;

use super::load::{self, Caller, Outcome, connect, idle_streams};
use super::server::{Memory, ServerProcess};
use super::setup::{Setup, TargetArgs};
use super::workload::{Catalog, Device, authed};
use crate::auth::Role;
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;

#[derive(clap::Args)]
pub struct UnaryArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Concurrent clients (simulated devices), each with one call in flight.
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// HTTP/2 connections the clients share (0: one per client, as separate phones would).
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Seconds measured, per service.
    #[arg(long, default_value_t = 12)]
    seconds: u64,
    /// Rounds the measured seconds are split into, alternating Canvass and the ceiling.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
}

#[derive(clap::Args)]
pub struct StreamArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Phones uploading at once, each on its own connection.
    #[arg(long, default_value_t = 50)]
    phones: usize,
    /// Submissions queued on all phones together.
    #[arg(long, default_value_t = 100_000)]
    submissions: usize,
    /// Upload streams opened (each by its own phone) and left idle during the run.
    #[arg(long, default_value_t = 10_000)]
    idle_streams: usize,
    /// Connections the idle streams share (0: one per stream, as separate phones would).
    #[arg(long, default_value_t = 0)]
    idle_connections: usize,
}

/// `count` field workers' phones, spread over the townships, each with its own token.
fn device_callers(
    setup: &Setup,
    catalog: &Catalog,
    count: usize,
    prefix: &str,
) -> Result<Vec<Caller>> {
    (0..count)
        .map(|serial| {
            let device = Device {
                township: serial % catalog.townships.len(),
                serial,
            };
            let unit = UnitId::parse(&catalog.townships[device.township])
                .map_err(|e| Error::internal(format!("township id: {e}")))?;
            let bearer =
                setup.device_token(&format!("{prefix}-{serial}"), Role::FieldWorker, &[unit])?;
            Ok(Caller { device, bearer })
        })
        .collect()
}

fn run_tag() -> String {
    format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
}

/// Submissions the server holds for the run's campaign, read back through the API.
async fn stored(setup: &Setup, catalog: &Catalog) -> Result<i64> {
    let channel = connect(setup.address, 1).await?.remove(0);
    let score = AggregateServiceClient::new(channel)
        .get_unit_score(authed(
            pb::GetUnitScoreRequest {
                campaign_id: catalog.campaign_id.clone(),
                unit_id: catalog.city.clone(),
            },
            setup.admin(),
        ))
        .await
        .map_err(|s| Error::internal(format!("reading back the city's score: {s:?}")))?;
    Ok(score.into_inner().submission_count)
}

pub async fn unary(args: &UnaryArgs) -> Result<()> {
    let setup = Setup::new(&args.target).await?;
    let catalog = Arc::new(Catalog::new(&run_tag()));
    catalog
        .create(connect(setup.address, 1).await?.remove(0), setup.admin())
        .await?;
    let connections = if args.connections == 0 {
        args.clients
    } else {
        args.connections
    };
    let warmup = Duration::from_secs(args.warmup_seconds);
    let rounds = args.rounds.max(1);
    let round_length = Duration::from_secs(args.seconds) / rounds as u32;
    let callers = device_callers(&setup, &catalog, args.clients, "worker")?;
    let server_pid = setup.server.as_ref().map(ServerProcess::pid);
    let noop = ServerProcess::noop()?;
    let canvass_channels = connect(setup.address, connections).await?;
    let ceiling_channels = connect(noop.address, connections).await?;

    // Rounds alternate between the two services, so a slow spell of the machine (a shared
    // virtual machine has them) weighs on both sides of the ratio alike.
    let (mut canvass_rounds, mut ceiling_rounds) = (Vec::new(), Vec::new());
    for round in 0..rounds as u64 {
        let warmup = if round == 0 { warmup } else { Duration::ZERO };
        for (channels, pid, outcomes) in [
            (&canvass_channels, server_pid, &mut canvass_rounds),
            (&ceiling_channels, Some(noop.pid()), &mut ceiling_rounds),
        ] {
            let outcome = load::unary(
                channels,
                clone_callers(&callers),
                catalog.clone(),
                (warmup, round_length),
                pid,
                round,
            )
            .await;
            outcomes.push(outcome);
        }
    }
    drop((canvass_channels, ceiling_channels));
    let round_ratios: Vec<String> = canvass_rounds
        .iter()
        .zip(&ceiling_rounds)
        .map(|(c, n)| format!("{:.2}", c.per_second() / n.per_second().max(f64::EPSILON)))
        .collect();
    let canvass = Outcome::of_rounds(canvass_rounds);
    let ceiling = Outcome::of_rounds(ceiling_rounds);
    let stored = stored(&setup, &catalog).await?;
    let memory = setup.server_memory();
    let (store, mints) = (setup.store, setup.mints_tokens());
    setup.finish().await?;
    let noop_memory = noop.memory();
    noop.stop().await?;

    println!(
        "canvass bench unary: SubmitVisit, {} clients over {connections} connections, {} s measured per service in {rounds} alternating rounds, after {} s of warm-up each; store: {store}",
        args.clients, args.seconds, args.warmup_seconds
    );
    describe_processes(mints);
    println!("submissions the server holds after the run: {stored}");
    println!();
    table(&[
        ("canvass (JWT, durable group commit)", &canvass, memory),
        ("ceiling (no-op SubmitVisit)", &ceiling, Some(noop_memory)),
    ]);
    ratio(&canvass, &ceiling);
    println!("per round: {}", round_ratios.join(", "));
    Ok(())
}

pub async fn stream(args: &StreamArgs) -> Result<()> {
    let setup = Setup::new(&args.target).await?;
    let catalog = Catalog::new(&run_tag());
    catalog
        .create(connect(setup.address, 1).await?.remove(0), setup.admin())
        .await?;
    let phones = args.phones.max(1);
    let per_phone: Vec<usize> = (0..phones)
        .map(|i| args.submissions / phones + usize::from(i < args.submissions % phones))
        .collect();
    let callers = device_callers(&setup, &catalog, phones, "phone")?;
    let ceiling_callers = clone_callers(&callers);

    let idle = if args.idle_streams > 0 {
        let bearers = device_callers(&setup, &catalog, args.idle_streams, "idle")?
            .into_iter()
            .map(|c| c.bearer)
            .collect();
        let connections = match args.idle_connections {
            0 => args.idle_streams,
            n => n,
        };
        Some(idle_streams(connect(setup.address, connections).await?, bearers).await?)
    } else {
        None
    };
    let idle_memory = setup.server_memory();

    let channels = connect(setup.address, phones).await?;
    let server_pid = setup.server.as_ref().map(ServerProcess::pid);
    let canvass = load::stream(&channels, callers, &catalog, &per_phone, server_pid).await;
    drop(channels);
    let memory = setup.server_memory();
    if let Some(idle) = idle {
        idle.close().await;
    }
    let stored = stored(&setup, &catalog).await?;
    let (store, mints) = (setup.store, setup.mints_tokens());
    setup.finish().await?;

    let noop = ServerProcess::noop()?;
    let channels = connect(noop.address, phones).await?;
    let ceiling = load::stream(
        &channels,
        ceiling_callers,
        &catalog,
        &per_phone,
        Some(noop.pid()),
    )
    .await;
    drop(channels);
    let noop_memory = noop.memory();
    noop.stop().await?;

    println!(
        "canvass bench stream: {} submissions queued on {phones} phones (one UploadSubmissions stream and connection each), {} idle streams open on {} connections; store: {store}",
        args.submissions,
        args.idle_streams,
        if args.idle_connections == 0 {
            args.idle_streams
        } else {
            args.idle_connections
        }
    );
    describe_processes(mints);
    println!("submissions the server holds after the run: {stored}");
    if let Some(m) = idle_memory.filter(|_| args.idle_streams > 0) {
        println!(
            "server RSS with the idle streams open, before the upload: {:.1} MiB",
            m.rss_kib as f64 / 1024.0
        );
    }
    println!();
    table(&[
        ("canvass (JWT, durable group commit)", &canvass, memory),
        (
            "ceiling (no-op UploadSubmissions)",
            &ceiling,
            Some(noop_memory),
        ),
    ]);
    ratio(&canvass, &ceiling);
    Ok(())
}

fn clone_callers(callers: &[Caller]) -> Vec<Caller> {
    callers
        .iter()
        .map(|c| Caller {
            device: Device {
                township: c.device.township,
                serial: c.device.serial,
            },
            bearer: c.bearer.clone(),
        })
        .collect()
}

fn describe_processes(mints: bool) {
    println!(
        "the server and the ceiling each run alone in a child process (RSS is theirs alone); the load client is this process; all share the machine's cores"
    );
    if !mints {
        println!("every simulated device calls with the one --token given");
    }
}

fn table(rows: &[(&str, &Outcome, Option<Memory>)]) {
    println!(
        "| service | submissions/s | p50 ms | p99 ms | p99.9 ms | failed | peak RSS MiB | server CPU µs/sub | client CPU µs/sub | other load (cores) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, o, memory) in rows {
        let rss = memory.map_or_else(
            || "n/a".to_owned(),
            |m| format!("{:.1}", m.peak_kib as f64 / 1024.0),
        );
        let (server_cpu, client_cpu) = o.cpu_per_submission();
        let micros = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"));
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {rss} | {} | {} | {} |",
            o.per_second(),
            o.latency_ms(0.5),
            o.latency_ms(0.99),
            o.latency_ms(0.999),
            o.failed,
            micros(server_cpu),
            micros(client_cpu),
            o.other_cores()
                .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}")),
        );
        if let Some(error) = &o.first_error {
            println!("  first failure ({name}): {error}");
        }
    }
}

fn ratio(canvass: &Outcome, ceiling: &Outcome) {
    println!();
    println!(
        "canvass / ceiling: {:.2}",
        canvass.per_second() / ceiling.per_second().max(f64::EPSILON)
    );
}
