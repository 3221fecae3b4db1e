//! `canvass rankings`: a peer group's ranking with each unit's interval and its rank change.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{PeerArgs, ReportArgs};
use crate::cli::client::{Connection, remote_error};
use crate::cli::table;
use crate::error::Result;
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;

#[derive(clap::Args)]
pub struct RankingsArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub peers: PeerArgs,
    /// Only the top N (ties included).
    #[arg(long, conflicts_with = "bottom")]
    pub top: Option<i32>,
    /// Only the bottom N (ties included).
    #[arg(long)]
    pub bottom: Option<i32>,
}

/// One line of the ranking: ListRankings' entry with the interval GetUnitScore reports for
/// the score ranked on.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub rank: Option<i32>,
    pub unit_id: String,
    pub unit_name: String,
    pub score: Option<f64>,
    pub ci_lower: Option<f64>,
    pub ci_upper: Option<f64>,
    pub submission_count: i64,
    pub sufficient_sample: bool,
    pub previous_rank: Option<i32>,
    pub rank_change: Option<i32>,
    pub previous_score: Option<f64>,
    pub score_change: Option<f64>,
}

pub async fn run(args: RankingsArgs) -> Result<()> {
    let connection = args.report.client.connect().await?;
    let campaign = super::campaign(&connection, args.report.campaign.as_deref()).await?;
    let scope = args
        .peers
        .scope
        .clone()
        .unwrap_or_else(|| campaign.scope_unit_id.clone());
    let mut aggregates = AggregateServiceClient::new(connection.clone());
    let request = pb::ListRankingsRequest {
        campaign_id: campaign.id.clone(),
        scope_unit_id: scope.clone(),
        page_size: 1000,
        indicator_code: args.peers.indicator.clone().unwrap_or_default(),
        top_n: args.top.unwrap_or(0),
        bottom_n: args.bottom.unwrap_or(0),
        unit_kinds: args.peers.kinds(),
        ..Default::default()
    };
    let mut entries = Vec::new();
    let mut page = aggregates
        .list_rankings(request.clone())
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let first = page.clone();
    loop {
        entries.append(&mut page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        page = aggregates
            .list_rankings(pb::ListRankingsRequest {
                page_token: page.next_page_token.clone(),
                ..request.clone()
            })
            .await
            .map_err(|s| remote_error(&s))?
            .into_inner();
    }
    let weighted = campaign.weighting.is_some();
    let indicator = args.peers.indicator.clone();
    let rows: Vec<Row> = futures::stream::iter(entries)
        .map(|entry| {
            row(
                &connection,
                &campaign.id,
                indicator.as_deref(),
                weighted,
                entry,
            )
        })
        .buffered(8)
        .try_collect()
        .await?;
    if args.report.json {
        return table::print_json(&rows);
    }
    let kinds: Vec<&str> = first
        .peer_unit_kinds
        .iter()
        .map(|&k| pb::UnitKind::try_from(k).map_or("?", |k| k.as_str_name()))
        .collect();
    println!(
        "{} ({}) under {scope}, by {}: {} of {} units ranked ({}){}",
        campaign.name,
        campaign.id,
        indicator.as_deref().unwrap_or("composite"),
        first.ranked_count,
        first.peer_count,
        kinds.join(", ").replace("UNIT_KIND_", "").to_lowercase(),
        if first.compared_campaign_id.is_empty() {
            String::new()
        } else {
            format!("; changes since {}", first.compared_campaign_id)
        }
    );
    let lines = rows
        .iter()
        .map(|r| {
            vec![
                r.rank.map_or_else(|| "-".into(), |rank| rank.to_string()),
                r.unit_name.clone(),
                table::score(r.score),
                table::interval(r.ci_lower, r.ci_upper),
                r.submission_count.to_string(),
                table::rank_arrow(r.rank, r.rank_change),
                r.previous_rank
                    .map_or_else(|| "-".into(), |rank| rank.to_string()),
                table::change(r.score_change),
            ]
        })
        .collect();
    let header = [
        "Rank", "Unit", "Score", "95% CI", "n", "Change", "Prev", "Δ score",
    ];
    println!("{}", table::table(&header, 2, lines));
    if rows.iter().any(|r| !r.sufficient_sample) {
        println!(
            "Units with fewer than {} submissions are listed but not ranked.",
            campaign.min_sample
        );
    }
    Ok(())
}

async fn row(
    connection: &Connection,
    campaign_id: &str,
    indicator: Option<&str>,
    weighted: bool,
    entry: pb::RankingEntry,
) -> Result<Row> {
    let score = super::unit_score(connection, campaign_id, &entry.unit_id).await?;
    let ci = ranked_interval(&score, indicator, weighted);
    Ok(Row {
        rank: entry.rank,
        unit_id: entry.unit_id,
        unit_name: entry.unit_name,
        score: entry.score,
        ci_lower: ci.map(|c| c.lower),
        ci_upper: ci.map(|c| c.upper),
        submission_count: entry.submission_count,
        sufficient_sample: entry.sufficient_sample,
        previous_rank: entry.previous_rank,
        rank_change: entry.rank_change,
        previous_score: entry.previous_score,
        score_change: entry.score_change,
    })
}

/// The interval of the score a ranking orders by: the composite's conservative interval or
/// the indicator's, weighted when the campaign is.
pub fn ranked_interval(
    score: &pb::UnitScore,
    indicator: Option<&str>,
    weighted: bool,
) -> Option<pb::ConfidenceInterval> {
    match indicator {
        None if weighted => score.weighted_composite_conservative_interval,
        None => score.composite_conservative_interval,
        Some(code) => {
            let found = score.indicators.iter().find(|i| i.indicator_code == code)?;
            if weighted {
                found.weighted.as_ref()?.confidence_interval
            } else {
                found.confidence_interval
            }
        }
    }
}
