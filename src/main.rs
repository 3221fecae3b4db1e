use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = canvass::cli::Cli::parse();
    canvass::telemetry::init(cli.log_format());
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "canvass stopped");
            eprintln!("canvass: {error}");
            ExitCode::FAILURE
        }
    }
}
