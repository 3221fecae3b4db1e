//! `canvass export`: a campaign's submissions or call attempts into a CSV or Parquet file, as
//! the server streams them. Each streamed batch is written before the next is read, so memory
//! stays constant whatever the campaign's size. The file appears under its name only once
//! complete: it is written beside it as `<name>.partial` and renamed at the end.

mod csv;
mod parquet;
mod table;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::client::{ClientArgs, remote_error};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;
use crate::proto::v1::export_service_client::ExportServiceClient;
use table::{AttemptTable, Cell, Column, SubmissionTable};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Parquet,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum What {
    Submissions,
    Calls,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum State {
    Received,
    Flagged,
    Approved,
    Rejected,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The campaign to export.
    #[arg(long)]
    campaign: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// The file to write (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
    /// Start a CSV file with a UTF-8 byte order mark, so Excel reads Chinese text correctly.
    #[arg(long)]
    bom: bool,
    #[arg(long, value_enum, default_value = "submissions")]
    what: What,
    /// Only this unit and its descendants.
    #[arg(long)]
    unit: Option<String>,
    /// Only submissions in this review state (repeatable).
    #[arg(long = "state", value_enum)]
    states: Vec<State>,
    /// Only interviews (or attempts) that ended at or after this RFC 3339 instant.
    #[arg(long, value_parser = parse_time)]
    from: Option<prost_types::Timestamp>,
    /// Only interviews (or attempts) that ended before this RFC 3339 instant.
    #[arg(long, value_parser = parse_time)]
    to: Option<prost_types::Timestamp>,
    /// Records per streamed message.
    #[arg(long, default_value_t = 1000)]
    batch_size: i32,
    #[command(flatten)]
    client: ClientArgs,
}

fn parse_time(text: &str) -> std::result::Result<prost_types::Timestamp, String> {
    prost_types::Timestamp::from_str(text)
        .map_err(|_| format!("{text:?} is not an RFC 3339 instant such as 2026-11-01T00:00:00Z"))
}

/// Where rows go: the file format's writer.
enum Sink {
    Csv(csv::CsvSink),
    Parquet(parquet::ParquetSink),
}

impl Sink {
    fn new(format: Format, path: &Path, columns: &[Column], bom: bool) -> Result<Self> {
        let file = std::fs::File::create(path)
            .map_err(|e| Error::invalid("--out", format!("{}: {e}", path.display())))?;
        Ok(match format {
            Format::Csv => Self::Csv(csv::CsvSink::new(file, columns, bom)?),
            Format::Parquet => Self::Parquet(parquet::ParquetSink::new(file, columns)?),
        })
    }

    fn write(&mut self, rows: &[Vec<Cell>]) -> Result<()> {
        match self {
            Self::Csv(sink) => sink.write(rows),
            Self::Parquet(sink) => sink.write(rows),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Self::Csv(sink) => sink.finish(),
            Self::Parquet(sink) => sink.finish(),
        }
    }
}

/// A spinner with the count and rate on stderr, drawn only when stderr is a terminal.
fn progress(what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} {msg} ({per_sec}, {elapsed})")
            .expect("the template is valid"),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub async fn run(args: ExportArgs) -> Result<()> {
    let partial = PathBuf::from(format!("{}.partial", args.out.display()));
    let result = export(&args, &partial).await;
    match result {
        Ok(rows) => {
            std::fs::rename(&partial, &args.out)
                .map_err(|e| Error::internal(format!("renaming {}: {e}", partial.display())))?;
            eprintln!("wrote {rows} rows to {}", args.out.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn export(args: &ExportArgs, path: &Path) -> Result<u64> {
    let connection = args.client.connect().await?;
    let mut exports =
        ExportServiceClient::new(connection.clone()).max_decoding_message_size(64 * 1024 * 1024);
    let bar = progress(match args.what {
        What::Submissions => "submissions",
        What::Calls => "call attempts",
    });
    let rows = match args.what {
        What::Submissions => {
            let mut catalog = CatalogServiceClient::new(connection);
            let campaign = catalog
                .get_campaign(pb::GetCampaignRequest {
                    id: args.campaign.clone(),
                })
                .await
                .map_err(|s| remote_error(&s))?
                .into_inner();
            let questionnaire = catalog
                .get_questionnaire(pb::GetQuestionnaireRequest {
                    id: campaign.questionnaire_id.clone(),
                })
                .await
                .map_err(|s| remote_error(&s))?
                .into_inner();
            let table = SubmissionTable::new(&campaign.id, &questionnaire);
            let request = pb::ExportSubmissionsRequest {
                campaign_id: args.campaign.clone(),
                unit_id: args.unit.clone().unwrap_or_default(),
                review_states: args.states.iter().map(|s| state(*s).into()).collect(),
                start_time: args.from,
                end_time: args.to,
                batch_size: args.batch_size,
            };
            let stream = exports
                .export_submissions(request)
                .await
                .map_err(|s| remote_error(&s))?
                .into_inner();
            let sink = Sink::new(args.format, path, &table.columns, args.bom)?;
            drain(stream, sink, &bar, |m: &pb::ExportSubmissionsResponse| {
                m.submissions.iter().map(|s| table.row(s)).collect()
            })
            .await?
        }
        What::Calls => {
            let table = AttemptTable::new(&args.campaign);
            let request = pb::ExportCallAttemptsRequest {
                campaign_id: args.campaign.clone(),
                unit_id: args.unit.clone().unwrap_or_default(),
                start_time: args.from,
                end_time: args.to,
                batch_size: args.batch_size,
            };
            let stream = exports
                .export_call_attempts(request)
                .await
                .map_err(|s| remote_error(&s))?
                .into_inner();
            let sink = Sink::new(args.format, path, &table.columns, args.bom)?;
            drain(stream, sink, &bar, |m: &pb::ExportCallAttemptsResponse| {
                m.call_attempts.iter().map(|a| table.row(a)).collect()
            })
            .await?
        }
    };
    bar.finish_and_clear();
    Ok(rows)
}

/// Writes each streamed batch, as the table's rows, before reading the next; counts rows on
/// the bar.
async fn drain<M>(
    mut stream: tonic::Streaming<M>,
    mut sink: Sink,
    bar: &ProgressBar,
    rows_of: impl Fn(&M) -> Vec<Vec<Cell>>,
) -> Result<u64> {
    let mut rows = 0u64;
    while let Some(message) = stream.next().await {
        let batch = rows_of(&message.map_err(|s| remote_error(&s))?);
        sink.write(&batch)?;
        rows += batch.len() as u64;
        bar.inc(batch.len() as u64);
    }
    sink.finish()?;
    Ok(rows)
}

fn state(s: State) -> pb::ReviewState {
    match s {
        State::Received => pb::ReviewState::Received,
        State::Flagged => pb::ReviewState::Flagged,
        State::Approved => pb::ReviewState::Approved,
        State::Rejected => pb::ReviewState::Rejected,
    }
}
