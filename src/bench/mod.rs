//! `canvass bench`: throughput and latency of submissions (unary and streamed) next to the
//! ceiling of the stack, aggregate read latency as data grows, and the cost of token checks.
//!
//! The server under test runs as a child process of this binary, so the memory reported is
//! the server's alone; the load client runs in this process, and both share the machine.

mod aggregates;
mod catalog;
mod export;
mod load;
mod loader;
mod noop;
mod noop_reads;
mod province;
mod read_timing;
mod server;
mod setup;
mod submit;
mod tokens;
mod watchers;
mod workload;

use std::net::SocketAddr;

use clap::Subcommand;

use crate::error::Result;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// SubmitVisit from N concurrent clients for T seconds, then the same load against a no-op
    /// service (the ceiling).
    Unary(submit::UnaryArgs),
    /// Phones streaming their queues through UploadSubmissions, with idle streams open, then the
    /// same load against a no-op service.
    Stream(submit::StreamArgs),
    /// GetUnitScore and ListRankings latency at 10,000 and 1,000,000 stored submissions, next
    /// to a no-op read; `--province` for a province-sized catalog with two campaigns.
    Aggregates(aggregates::AggregatesArgs),
    /// CreateUnit throughput as the catalog grows, slab by slab.
    Catalog(catalog::CatalogArgs),
    /// `canvass export` to CSV and Parquet at 100,000 and 1,000,000 stored submissions: rows/s
    /// and peak memory, next to the raw store scan.
    Export(export::ExportBenchArgs),
    /// Cost of a token check: signature verification against a cache hit.
    Tokens(tokens::TokensArgs),
    /// The no-op SubmissionService the other modes measure as the ceiling.
    #[command(hide = true)]
    NoopServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// The no-op AggregateService `aggregates` measures reads against.
    #[command(hide = true)]
    NoopReadServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        replies: std::path::PathBuf,
    },
}

pub async fn run(args: BenchArgs) -> Result<()> {
    match args.mode {
        Mode::Unary(args) => submit::unary(&args).await,
        Mode::Stream(args) => submit::stream(&args).await,
        Mode::Aggregates(args) => aggregates::run(&args).await,
        Mode::Catalog(args) => catalog::run(&args).await,
        Mode::Export(args) => export::run(&args).await,
        Mode::Tokens(args) => tokens::run(&args),
        Mode::NoopServer { listen } => noop::serve(listen).await,
        Mode::NoopReadServer { listen, replies } => noop_reads::serve(listen, replies).await,
    }
}
