use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    canvass::telemetry::init();
    match canvass::cli::Cli::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "canvass stopped");
            eprintln!("canvass: {error}");
            ExitCode::FAILURE
        }
    }
}
