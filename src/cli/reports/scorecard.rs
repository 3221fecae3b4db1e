//! `canvass scorecard`: one unit's composite and indicators, each with its interval, rank
//! among its peers and change since the compared round, marked when within the margin of error.

use serde::Serialize;

use super::ReportArgs;
use crate::cli::client::remote_error;
use crate::cli::table;
use crate::error::Result;
use crate::proto::v1 as pb;
use crate::proto::v1::aggregate_service_client::AggregateServiceClient;
use crate::proto::v1::catalog_service_client::CatalogServiceClient;

/// z of a two-sided 95% test.
const Z: f64 = 1.96;

#[derive(clap::Args)]
pub struct ScorecardArgs {
    #[command(flatten)]
    pub report: ReportArgs,
    /// The unit.
    #[arg(long)]
    pub unit: String,
}

/// The composite (indicator_code None) or one indicator.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    pub indicator_code: Option<String>,
    pub name: String,
    pub score: Option<f64>,
    pub standard_error: Option<f64>,
    pub ci_lower: Option<f64>,
    pub ci_upper: Option<f64>,
    /// Valid answers (the composite: submissions).
    pub n: i64,
    pub rank: Option<i32>,
    pub ranked_count: Option<i32>,
    pub previous_score: Option<f64>,
    pub change: Option<f64>,
    /// 1.96 · √(SE² + SE_previous²): a change smaller than this is within the margin of error.
    pub margin: Option<f64>,
    pub within_margin: Option<bool>,
}

pub async fn run(args: ScorecardArgs) -> Result<()> {
    let connection = args.report.client.connect().await?;
    let campaign = super::campaign(&connection, args.report.campaign.as_deref()).await?;
    let mut aggregates = AggregateServiceClient::new(connection.clone());
    let current = super::unit_score(&connection, &campaign.id, &args.unit).await?;
    let previous = if campaign.compared_campaign_id.is_empty() {
        None
    } else {
        Some(super::unit_score(&connection, &campaign.compared_campaign_id, &args.unit).await?)
    };
    let weaknesses = aggregates
        .get_unit_weaknesses(pb::GetUnitWeaknessesRequest {
            campaign_id: campaign.id.clone(),
            unit_id: args.unit.clone(),
            unit_kinds: Vec::new(),
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let history = aggregates
        .get_unit_history(pb::GetUnitHistoryRequest {
            unit_id: args.unit.clone(),
            unit_kinds: Vec::new(),
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let questionnaire = CatalogServiceClient::new(connection.clone())
        .get_questionnaire(pb::GetQuestionnaireRequest {
            id: campaign.questionnaire_id.clone(),
        })
        .await
        .map_err(|s| remote_error(&s))?
        .into_inner();
    let standing = history.points.iter().find(|p| p.campaign_id == campaign.id);
    let mut rows = vec![composite_row(&current, previous.as_ref(), standing)];
    for indicator in &questionnaire.indicators {
        let rank = weaknesses
            .indicators
            .iter()
            .find(|s| s.indicator_code == indicator.code);
        rows.push(indicator_row(indicator, &current, previous.as_ref(), rank));
    }
    if args.report.json {
        return table::print_json(&rows);
    }
    println!(
        "{} ({}) in {} ({}): {} submissions{}{}",
        current.unit_name,
        current.unit_id,
        campaign.name,
        campaign.id,
        current.submission_count,
        if current.sufficient_sample {
            String::new()
        } else {
            format!(
                ", below the minimum sample of {}: not ranked",
                campaign.min_sample
            )
        },
        if campaign.compared_campaign_id.is_empty() {
            String::new()
        } else {
            format!("; changes since {}", campaign.compared_campaign_id)
        }
    );
    let lines = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                table::score(r.score),
                table::interval(r.ci_lower, r.ci_upper),
                r.n.to_string(),
                match (r.rank, r.ranked_count) {
                    (Some(rank), Some(of)) => format!("{rank}/{of}"),
                    _ => "-".into(),
                },
                table::score(r.previous_score),
                change_cell(r),
            ]
        })
        .collect();
    let header = [
        "Indicator",
        "Score",
        "95% CI",
        "n",
        "Rank",
        "Previous",
        "Change",
    ];
    println!("{}", table::table(&header, 1, lines));
    println!(
        "≈ marks a change within the margin of error (|Δ| < 1.96·√(SE²+SE_prev²)); the \
         composite uses its conservative standard error."
    );
    Ok(())
}

fn change_cell(row: &Row) -> String {
    match (row.change, row.within_margin) {
        (Some(change), Some(true)) => format!("≈ {change:+.2}"),
        (Some(change), Some(false)) if change > 0.0 => format!("↑ {change:+.2}"),
        (Some(change), Some(false)) => format!("↓ {change:+.2}"),
        (Some(change), None) => format!("{change:+.2}"),
        (None, _) => "-".into(),
    }
}

/// The change, its margin, and whether it lies within it (DOMAIN: SE_Δ = √(SE₁² + SE₂²)).
fn compare(
    now: (Option<f64>, Option<f64>),
    before: (Option<f64>, Option<f64>),
) -> (Option<f64>, Option<f64>, Option<bool>) {
    let change = now.0.zip(before.0).map(|(a, b)| a - b);
    let margin = now.1.zip(before.1).map(|(a, b)| Z * (a * a + b * b).sqrt());
    let within = change.zip(margin).map(|(c, m)| c.abs() < m);
    (change, margin, within)
}

fn composite_row(
    current: &pb::UnitScore,
    previous: Option<&pb::UnitScore>,
    standing: Option<&pb::HistoryPoint>,
) -> Row {
    let figures = |s: &pb::UnitScore| (s.composite_score, s.composite_conservative_standard_error);
    let before = previous.map_or((None, None), figures);
    let (change, margin, within_margin) = compare(figures(current), before);
    let ci = current.composite_conservative_interval;
    Row {
        indicator_code: None,
        name: "综合 (composite)".into(),
        score: current.composite_score,
        standard_error: current.composite_conservative_standard_error,
        ci_lower: ci.map(|c| c.lower),
        ci_upper: ci.map(|c| c.upper),
        n: current.submission_count,
        rank: standing.and_then(|p| p.rank),
        ranked_count: standing.map(|p| p.ranked_count),
        previous_score: before.0,
        change,
        margin,
        within_margin,
    }
}

fn indicator_row(
    indicator: &pb::Indicator,
    current: &pb::UnitScore,
    previous: Option<&pb::UnitScore>,
    standing: Option<&pb::IndicatorStanding>,
) -> Row {
    let find = |s: &pb::UnitScore| {
        s.indicators
            .iter()
            .find(|i| i.indicator_code == indicator.code)
            .cloned()
    };
    let figures = |i: &pb::IndicatorScore| (i.mean, i.standard_error);
    let now = find(current);
    let before = previous.and_then(find);
    let (change, margin, within_margin) = compare(
        now.as_ref().map_or((None, None), figures),
        before.as_ref().map_or((None, None), figures),
    );
    let ci = now.as_ref().and_then(|i| i.confidence_interval);
    Row {
        indicator_code: Some(indicator.code.clone()),
        name: super::indicator_name(&indicator.text).to_string(),
        score: now.as_ref().and_then(|i| i.mean),
        standard_error: now.as_ref().and_then(|i| i.standard_error),
        ci_lower: ci.map(|c| c.lower),
        ci_upper: ci.map(|c| c.upper),
        n: now.as_ref().map_or(0, |i| i.valid_count),
        rank: standing.and_then(|s| s.rank),
        ranked_count: standing.map(|s| s.ranked_count),
        previous_score: before.as_ref().and_then(|i| i.mean),
        change,
        margin,
        within_margin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_of_the_domain_examples() {
        let (change, margin, within) =
            compare((Some(76.09), Some(1.10)), (Some(73.57), Some(1.20)));
        assert!((change.unwrap() - 2.52).abs() < 1e-9);
        assert!((margin.unwrap() - 3.1906).abs() < 1e-4);
        assert_eq!(within, Some(true));
        let (_, margin, within) = compare((Some(76.09), Some(0.75)), (Some(73.57), Some(0.80)));
        assert!((margin.unwrap() - 2.1493).abs() < 1e-4);
        assert_eq!(within, Some(false));
        assert_eq!(compare((Some(1.0), None), (Some(2.0), Some(1.0))).2, None);
    }
}
