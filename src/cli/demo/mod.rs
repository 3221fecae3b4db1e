//! `canvass demo`: loads a county-level city with two rounds of a public-security poll through
//! the public API, as field apps and a call center would, so that the reports have something
//! to show. Every time is relative to now: round 1 closed a few weeks ago, round 2 is open.

mod city;
mod generate;
mod load;
mod questionnaire;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::cli::client::{ClientArgs, remote_error};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

pub use generate::{FULL, SMALL, Size};

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Prefix of every id the demo creates (the city's id; townships are `<prefix>-jinshi`,
    /// campaigns `<prefix>-r1` and `<prefix>-r2`). Load another city beside one already
    /// loaded with another prefix.
    #[arg(long, default_value = "demo", value_parser = parse_prefix)]
    pub prefix: String,
    /// Seed of the generated answers: the same seed gives the same scores.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Three villages per township and ~40 interviews per township and round instead of ~15
    /// and ~120: the same story, loaded in a few seconds.
    #[arg(long)]
    pub small: bool,
}

fn parse_prefix(value: &str) -> std::result::Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 20
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(value.to_string())
    } else {
        Err("1-20 characters of a-z and 0-9".into())
    }
}

/// Ids of what the demo created.
pub struct Created {
    pub city: String,
    pub round1: String,
    pub round2: String,
    pub submissions: usize,
    pub attempts: usize,
}

/// Loads the city unless its prefix is taken.
///
/// # Errors
/// ALREADY_EXISTS when a unit with the prefix as its id exists (a demo loaded before); the
/// server's error when a call fails.
pub async fn run(args: DemoArgs) -> Result<()> {
    let connection = args.client.connect().await?;
    let mut catalog = CatalogServiceClient::new(connection.clone());
    match catalog
        .get_unit(pb::GetUnitRequest {
            id: args.prefix.clone(),
        })
        .await
    {
        Ok(unit) => {
            return Err(Error::AlreadyExists {
                reason: "DEMO_ALREADY_LOADED",
                message: format!(
                    "a unit {:?} ({}) already exists, so the demo was loaded before \
                     (campaigns {p}-r1 and {p}-r2); try `canvass rankings --campaign {p}-r2`, \
                     or load another city with `canvass demo --prefix {p}2`",
                    args.prefix,
                    unit.into_inner().name,
                    p = args.prefix
                ),
            });
        }
        Err(status) if status.code() == tonic::Code::NotFound => {}
        Err(status) => return Err(remote_error(&status)),
    }
    let size = if args.small { SMALL } else { FULL };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let started = std::time::Instant::now();
    let created = load::load(&connection, &args.prefix, size, args.seed, &mut rng).await?;
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
    print_summary(&args, &created);
    Ok(())
}

fn print_summary(args: &DemoArgs, created: &Created) {
    let server = if args.client.server == "http://127.0.0.1:50051" {
        String::new()
    } else {
        format!(" --server {}", args.client.server)
    };
    let Created {
        city,
        round1,
        round2,
        ..
    } = created;
    println!(
        "Loaded the demo city {city} (示范市): 20 townships and sub-district offices, their \
         villages and communities, 10 departments; {} interviews and {} call attempts.",
        created.submissions, created.attempts
    );
    println!("  {round1}  round 1, closed");
    println!("  {round2}  round 2, open, compared with {round1}");
    println!();
    println!("Try:");
    for command in [
        format!("rankings --campaign {round2}"),
        format!("rankings --campaign {round2} --kind department"),
        format!("rankings --campaign {round2} --scope {city}-jinshi"),
        format!("scorecard --campaign {round2} --unit {city}-dongshan"),
        format!("laggards --campaign {round2}"),
        format!("response-rates --campaign {round2}"),
    ] {
        println!("  canvass {command}{server}");
    }
}
