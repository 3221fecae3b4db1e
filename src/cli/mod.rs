//! Subcommands of the `canvass` binary. Client subcommands live in their own files beside
//! this one and connect through [`client::ClientArgs`].

use std::time::Duration;

use clap::{Parser, Subcommand};

pub mod briefing;
pub mod client;
pub mod demo;
mod export;
mod import;
pub mod reports;
mod revoke;
pub mod table;

use crate::auth::{Role, TokenIssuer, ensure_keypair};
use crate::configuration::{CommonArgs, ServeArgs};
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::startup::{Application, shutdown_signal};
use crate::store::{Store, StoreOptions};
use crate::telemetry::LogFormat;

#[derive(Parser)]
#[command(
    name = "canvass",
    version,
    about = "Public-satisfaction survey backend"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `canvass` serves: `canvass --listen 0.0.0.0:50051` is
    /// `canvass serve --listen 0.0.0.0:50051`.
    #[command(flatten)]
    serve: ServeArgs,
    /// How log lines are written on stderr: text, or one JSON object a line.
    #[arg(
        long,
        global = true,
        env = "CANVASS_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service (the default).
    Serve(Box<ServeArgs>),
    /// Mint a token for a role and units.
    Token(TokenArgs),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Revoke a token (--jti) or a subject's tokens issued before a time (--subject).
    Revoke(revoke::RevokeArgs),
    /// Measure submissions/s, latency and memory against the no-op ceiling (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Import units from a CSV file, or a questionnaire from a JSON file, into a running server.
    Import(import::ImportArgs),
    /// Export a campaign's submissions or call attempts to a CSV or Parquet file.
    Export(export::ExportArgs),
    /// Load a demo city with two survey rounds through the API of a running server.
    Demo(demo::DemoArgs),
    /// A peer group's ranking: rank, score with its 95% interval, n and the rank change.
    Rankings(reports::rankings::RankingsArgs),
    /// One unit's composite and indicators with intervals, ranks and changes since the
    /// compared round.
    Scorecard(reports::scorecard::ScorecardArgs),
    /// Units in the bottom N of their peers in each of the last rounds.
    Laggards(reports::laggards::LaggardsArgs),
    /// AAPOR response, cooperation, refusal and contact rates, overall and per carrier.
    ResponseRates(reports::response_rates::ResponseRatesArgs),
    /// The round's briefing as a Markdown or HTML document, in Chinese or English.
    Briefing(Box<briefing::BriefingArgs>),
}

#[derive(clap::Args)]
struct TokenArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// field_worker, call_center, analyst, reviewer or admin.
    #[arg(long)]
    role: Role,
    /// A unit (with its descendants) the holder may submit for; repeatable.
    #[arg(long = "unit")]
    units: Vec<String>,
    /// Who the token identifies (recorded with every submission).
    #[arg(long, default_value = "cli")]
    subject: String,
    /// Lifetime in hours.
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
}

#[derive(clap::Args)]
struct MigrateArgs {
    #[command(flatten)]
    common: CommonArgs,
}

impl Cli {
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// Whether the subcommand prints its answer on stdout, as a filter does.
    fn prints_answer(&self) -> bool {
        matches!(
            self.command,
            Some(
                Command::Token(_)
                    | Command::Rankings(_)
                    | Command::Scorecard(_)
                    | Command::Laggards(_)
                    | Command::ResponseRates(_)
                    | Command::Revoke(_)
            )
        )
    }

    pub async fn run(self) -> Result<()> {
        if self.prints_answer() {
            stop_quietly_on_closed_stdout();
        }
        match self.command {
            None => run_server(self.serve).await,
            Some(Command::Serve(args)) => run_server(*args).await,
            Some(Command::Token(args)) => mint_token(args),
            Some(Command::Bench(args)) => crate::bench::run(args).await,
            Some(Command::Import(args)) => import::run(args).await,
            Some(Command::Export(args)) => export::run(args).await,
            Some(Command::Demo(args)) => demo::run(args).await,
            Some(Command::Rankings(args)) => reports::rankings::run(args).await,
            Some(Command::Scorecard(args)) => reports::scorecard::run(args).await,
            Some(Command::Laggards(args)) => reports::laggards::run(args).await,
            Some(Command::ResponseRates(args)) => reports::response_rates::run(args).await,
            Some(Command::Revoke(args)) => revoke::run(args).await,
            Some(Command::Briefing(args)) => briefing::run(*args).await,
            Some(Command::Migrate(args)) => {
                args.common.protect_files()?;
                let options = StoreOptions {
                    url: args.common.database_url(),
                    max_connections: 1,
                    acquire_timeout: Duration::from_secs(30),
                };
                Store::open(&options).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
        }
    }
}

async fn run_server(args: ServeArgs) -> Result<()> {
    tracing::info!(settings = ?args, "starting");
    // Listening before the build: a stop requested while migrations run ends the server as
    // soon as it is built.
    let shutdown = shutdown_signal();
    let app = Application::build(args).await?;
    app.run_until(shutdown).await
}

/// `canvass rankings | head -3` should end quietly when `head` is done, as any Unix filter
/// does. Rust ignores SIGPIPE, so `println!` would panic on the closed pipe instead; the
/// default action ends the process silently. Servers keep ignoring it: a closed socket is an
/// error to handle there, not a reason to stop.
fn stop_quietly_on_closed_stdout() {
    // SAFETY: called before any thread writes to stdout; restoring a default disposition
    // has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn mint_token(args: TokenArgs) -> Result<()> {
    let paths = args.common.key_paths();
    ensure_keypair(&paths)?;
    let units = args
        .units
        .iter()
        .map(|u| UnitId::parse(u).map_err(|e| Error::invalid("--unit", e)))
        .collect::<Result<Vec<_>>>()?;
    let issuer = TokenIssuer::from_pem_file(
        &paths.private_key,
        &args.common.jwt_issuer,
        &args.common.jwt_audience,
    )?;
    let token = issuer.mint(
        &args.subject,
        args.role,
        &units,
        Duration::from_secs(args.ttl_hours * 3600),
    )?;
    println!("{token}");
    Ok(())
}
