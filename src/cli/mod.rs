//! Subcommands of the `canvass` binary. Client subcommands live in their own files beside
//! this one and connect through [`client::ClientArgs`].

use std::time::Duration;

use clap::{Parser, Subcommand};

pub mod client;
mod revoke;

use crate::auth::{Role, TokenIssuer, ensure_keypair};
use crate::configuration::{CommonArgs, ServeArgs};
use crate::domain::ids::UnitId;
use crate::error::{Error, Result};
use crate::startup::{Application, shutdown_signal};
use crate::store::{Store, StoreOptions};

#[derive(Parser)]
#[command(
    name = "canvass",
    version,
    about = "Public-satisfaction survey backend"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service (the default).
    Serve(ServeArgs),
    /// Mint a token for a role and units.
    Token(TokenArgs),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Revoke a token (--jti) or a subject's tokens issued before a time (--subject).
    Revoke(revoke::RevokeArgs),
    /// Measure submissions/s, latency and memory against the no-op ceiling (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
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
    pub async fn run(self) -> Result<()> {
        match self.command {
            None => run_server(parse_default_serve()).await,
            Some(Command::Serve(args)) => run_server(args).await,
            Some(Command::Token(args)) => mint_token(args),
            Some(Command::Bench(args)) => crate::bench::run(args).await,
            Some(Command::Revoke(args)) => revoke::run(args).await,
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

/// `canvass` with no subcommand serves with settings from the environment.
fn parse_default_serve() -> ServeArgs {
    #[derive(Parser)]
    struct ServeOnly {
        #[command(flatten)]
        serve: ServeArgs,
    }
    ServeOnly::parse_from(["canvass"]).serve
}

async fn run_server(args: ServeArgs) -> Result<()> {
    tracing::info!(settings = ?args, "starting");
    // Listening before the build: a stop requested while migrations run ends the server as
    // soon as it is built.
    let shutdown = shutdown_signal();
    let app = Application::build(args).await?;
    app.run_until(shutdown).await
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
