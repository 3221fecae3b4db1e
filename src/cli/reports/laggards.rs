//! `canvass laggards`: the units in the bottom N of their peer group in each of the last K
//! rounds.

use serde::Serialize;

use super::{PeerArgs, ReportArgs};
use crate::cli::client::remote_error;
use crate::cli::table;
use crate::error::Result;
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;

#[derive(clap::Args)]
pub struct LaggardsArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub peers: PeerArgs,
    /// Size of the bottom group.
    #[arg(long, default_value_t = 5)]
    pub bottom: i32,
    /// Rounds of the comparison chain, the campaign included.
    #[arg(long, default_value_t = 2)]
    pub rounds: i32,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Standing {
    pub campaign_id: String,
    pub rank: Option<i32>,
    pub ranked_count: i32,
    pub score: Option<f64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub unit_id: String,
    pub unit_name: String,
    /// Latest campaign first.
    pub standings: Vec<Standing>,
}

pub async fn run(args: LaggardsArgs) -> Result<()> {
    let connection = args.report.client.connect().await?;
    let campaign = super::campaign(&connection, args.report.campaign.as_deref()).await?;
    let response = AggregateServiceClient::new(connection)
        .list_persistent_laggards(pb::ListPersistentLaggardsRequest {
            campaign_id: campaign.id.clone(),
            scope_unit_id: args
                .peers
                .scope
                .clone()
                .unwrap_or_else(|| campaign.scope_unit_id.clone()),
            bottom_n: args.bottom,
            campaign_count: args.rounds,
            indicator_code: args.peers.indicator.clone().unwrap_or_default(),
            unit_kinds: args.peers.kinds(),
            ..Default::default()
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let rows: Vec<Row> = response
        .entries
        .into_iter()
        .map(|e| Row {
            unit_id: e.unit_id,
            unit_name: e.unit_name,
            standings: e
                .standings
                .into_iter()
                .map(|s| Standing {
                    campaign_id: s.campaign_id,
                    rank: s.rank,
                    ranked_count: s.ranked_count,
                    score: s.score,
                })
                .collect(),
        })
        .collect();
    if args.report.json {
        return table::print_json(&rows);
    }
    println!(
        "In the bottom {} of their peers in each of {}: {} units",
        args.bottom,
        response.campaign_ids.join(", "),
        rows.len()
    );
    let mut header = vec!["Unit".to_string()];
    for id in &response.campaign_ids {
        header.push(format!("{id} rank"));
        header.push(format!("{id} score"));
    }
    let lines = rows
        .iter()
        .map(|r| {
            let mut line = vec![r.unit_name.clone()];
            for s in &r.standings {
                line.push(match s.rank {
                    Some(rank) => format!("{rank}/{}", s.ranked_count),
                    None => "-".into(),
                });
                line.push(table::score(s.score));
            }
            line
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    println!("{}", table::table(&header, 1, lines));
    Ok(())
}
