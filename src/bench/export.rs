//! Exports as the data grows: `canvass export` to CSV and Parquet at each size, as a child
//! process whose peak memory is read from /proc, next to the raw store scan the export is
//! built on (the same chunked reads, decoded into rows, with no gRPC, encoding or file).
//!
//! Submissions are loaded through `Store::commit_submissions` as in `bench aggregates`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::load::connect;
use super::loader::Loader;
use super::server::{ScratchDir, memory_of};
use super::setup::{ServerArgs, Setup};
use super::workload::Catalog;
use crate::auth::Role;
use crate::domain::export::ExportFilter;
use crate::domain::ids::CampaignId;
use crate::error::{Error, Result};
use crate::store::{ExportCursor, Store, StoreOptions};

#[derive(clap::Args)]
pub struct ExportBenchArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Stored submissions at which exports are measured, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000u64, 1_000_000])]
    sizes: Vec<u64>,
}

/// One measured export.
struct Run {
    size: u64,
    what: &'static str,
    seconds: f64,
    client_peak_kib: Option<u64>,
    server_peak_kib: Option<u64>,
    file_bytes: Option<u64>,
}

pub async fn run(args: &ExportBenchArgs) -> Result<()> {
    let setup = Setup::start(&args.server).await?;
    let catalog = Catalog::new(&format!(
        "b{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    ));
    let channel = connect(setup.address, 1).await?.remove(0);
    catalog.create(channel, setup.admin()).await?;
    let url = setup
        .database_url
        .clone()
        .ok_or_else(|| Error::internal("the export mode starts its own server"))?;
    let store = Store::open(&StoreOptions {
        url,
        max_connections: 2,
        acquire_timeout: Duration::from_secs(30),
    })
    .await?;
    let mut loader = Loader::new(store.clone(), &catalog, &catalog.campaign_id).await?;
    let analyst = setup.device_token("bench-analyst", Role::Analyst, &[])?;
    let token = analyst
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| Error::internal("minted token is a bearer header"))?
        .to_owned();
    let server_pid = setup.server.as_ref().map(|s| s.pid());
    let out_dir = ScratchDir::new()?;
    let mut runs = Vec::new();
    for &size in &args.sizes {
        let started = Instant::now();
        let added = loader.fill_to(&catalog, size).await?;
        eprintln!(
            "loaded {added} submissions in {:.1} s; {} stored",
            started.elapsed().as_secs_f64(),
            loader.stored
        );
        runs.push(scan(&store, &catalog.campaign_id, size).await?);
        for format in ["csv", "parquet"] {
            let out = out_dir.path().join(format!("export-{size}.{format}"));
            let mut command = Command::new(
                std::env::current_exe()
                    .map_err(|e| Error::internal(format!("the benchmark's own binary: {e}")))?,
            );
            command
                .args([
                    "export",
                    "--campaign",
                    &catalog.campaign_id,
                    "--format",
                    format,
                ])
                .arg("--out")
                .arg(&out)
                .args(["--server", &format!("http://{}", setup.address)])
                .args(["--token", &token]);
            let mut run = exported(command, server_pid).await?;
            run.size = size;
            run.what = if format == "csv" {
                "CSV file"
            } else {
                "Parquet file"
            };
            run.file_bytes = std::fs::metadata(&out).ok().map(|m| m.len());
            let _ = std::fs::remove_file(&out);
            runs.push(run);
        }
    }
    setup.finish().await?;
    report(loader.store_label, &runs);
    Ok(())
}

/// The baseline: every submission read through the export's chunked store reads.
async fn scan(store: &Store, campaign: &str, size: u64) -> Result<Run> {
    let filter = ExportFilter {
        campaign_id: CampaignId::parse(campaign).map_err(Error::internal)?,
        units: None,
        states: None,
        from: None,
        until: None,
    };
    let started = Instant::now();
    let mut cursor = ExportCursor {
        after: 0,
        last: store.last_submission_seq(&filter).await?,
    };
    let mut rows = 0u64;
    loop {
        let chunk = store.export_submissions(&filter, cursor, 1_000).await?;
        let Some(last) = chunk.last() else { break };
        cursor.after = last.seq;
        rows += chunk.len() as u64;
    }
    if rows != size {
        return Err(Error::internal(format!(
            "scanned {rows} of {size} submissions"
        )));
    }
    Ok(Run {
        size,
        what: "store scan (baseline)",
        seconds: started.elapsed().as_secs_f64(),
        client_peak_kib: None,
        server_peak_kib: None,
        file_bytes: None,
    })
}

/// Runs one `canvass export`, sampling its memory and the server's until it exits.
async fn exported(mut command: Command, server_pid: Option<u32>) -> Result<Run> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("starting canvass export: {e}")))?;
    let (mut client_peak, mut server_peak) = (None::<u64>, None::<u64>);
    let status = loop {
        if let Some(m) = memory_of(child.id()) {
            client_peak = client_peak.max(Some(m.peak_kib));
        }
        if let Some(m) = server_pid.and_then(memory_of) {
            server_peak = server_peak.max(Some(m.rss_kib));
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => return Err(Error::internal(format!("waiting for canvass export: {e}"))),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        return Err(Error::internal(format!("canvass export failed: {stderr}")));
    }
    Ok(Run {
        size: 0,
        what: "",
        seconds,
        client_peak_kib: client_peak,
        server_peak_kib: server_peak,
        file_bytes: None,
    })
}

fn report(store: &str, runs: &[Run]) {
    println!(
        "canvass bench export: {store}; 1,000 units (city, 30 townships, 969 villages), 12 \
         indicators; `canvass export` in a child process against the server in another"
    );
    println!();
    println!(
        "| submissions | what | seconds | rows/s | / baseline | client peak RSS MiB | server RSS during MiB | file MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mib = |kib: Option<u64>| kib.map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    for run in runs {
        let baseline = runs
            .iter()
            .find(|r| r.size == run.size && r.client_peak_kib.is_none() && r.file_bytes.is_none())
            .map(|b| b.size as f64 / b.seconds);
        let rate = run.size as f64 / run.seconds.max(f64::EPSILON);
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} |",
            run.size,
            run.what,
            run.seconds,
            rate,
            baseline.map_or("–".into(), |b| format!("{:.2}", rate / b)),
            mib(run.client_peak_kib),
            mib(run.server_peak_kib),
            run.file_bytes.map_or("–".into(), |b| format!(
                "{:.1}",
                b as f64 / (1024.0 * 1024.0)
            )),
        );
    }
}
