//! A unit's page: each indicator against its peers' median with intervals, the composite over
//! the campaigns that covered the unit, its weakest indicators and its response rates.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use maud::{Markup, html};

use super::WebState;
use super::access::{authorize, rpc};
use super::charts::{HistoryPoint, IndicatorRow, indicator_chart, line_chart};
use super::error::WebError;
use super::format::{carrier_label, change, interval, percent, score, short_label};
use super::layout::{Shell, campaign_nav, shell};
use crate::domain::aapor::{GroupCounts, Rates};
use crate::domain::headline::Headline;
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::ranking::RankBasis;
use crate::error::Error;
use crate::scores::{RankFilter, RankingQuery};

pub async fn page(Path((campaign, unit)): Path<(String, String)>) -> Markup {
    shell(Shell {
        title: "单位详情",
        fragment: format!("/fragments/campaigns/{campaign}/units/{unit}"),
        events: Some(format!("/events/campaigns/{campaign}")),
    })
}

/// The median of `values`: the middle one, or the mean of the two middle ones; `None` when
/// there are none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// # Errors
/// 401/403 as GetUnitScore and GetResponseRates; 404 for an unknown campaign or unit; 422 for a
/// unit outside the campaign's scope.
pub async fn fragment(
    State(state): State<WebState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((campaign, unit)): Path<(String, String)>,
) -> Result<Markup, WebError> {
    authorize(
        &state,
        &headers,
        peer,
        &[rpc::GET_UNIT_SCORE, rpc::GET_RESPONSE_RATES],
    )
    .await?;
    let campaign_id = CampaignId::parse(&campaign).map_err(|e| Error::invalid("campaign", e))?;
    let unit_id = UnitId::parse(&unit).map_err(|e| Error::invalid("unit", e))?;
    let scores = &state.scores;
    let unit_score = scores.unit_score(&campaign_id, &unit_id).await?;
    let weak = scores.weaknesses(&campaign_id, &unit_id, None).await?;
    let history = scores.history(&unit_id, Some(weak.group.clone())).await?;
    let rates = state
        .fieldwork
        .response_rates(&campaign_id, &unit_id)
        .await?;
    let snapshot = state.catalog.snapshot();
    let campaign = snapshot.campaign(&campaign_id)?.clone();
    let questionnaire = snapshot.questionnaire(&campaign.questionnaire_id)?.clone();

    // Each indicator's peer median, over the peers ranked on it (those with enough answers).
    let mut rows = Vec::with_capacity(unit_score.indicators.len());
    for (indicator, scored) in questionnaire.indicators.iter().zip(&unit_score.indicators) {
        let peers = scores
            .rankings(
                &RankingQuery {
                    campaign_id: campaign_id.clone(),
                    scope: campaign.scope_unit_id.clone(),
                    group: Some(weak.group.clone()),
                    basis: RankBasis::Indicator(indicator.code.clone()),
                },
                RankFilter::All,
            )
            .await?;
        let values = peers
            .rows
            .iter()
            .filter(|r| r.rank.is_some())
            .filter_map(|r| r.value)
            .collect();
        rows.push(IndicatorRow {
            label: short_label(&indicator.text).to_owned(),
            value: scored.mean,
            interval: scored.confidence_interval,
            peer_median: median(values),
        });
    }
    let points: Vec<HistoryPoint> = history
        .points
        .iter()
        .map(|p| HistoryPoint {
            label: p.campaign.name.clone(),
            value: p.ranked_value,
            interval: p.headline.ranked_interval(),
        })
        .collect();
    let parent = weak
        .unit
        .parent_id
        .as_ref()
        .and_then(|p| snapshot.units.get(p));
    Ok(html! {
        (campaign_nav(campaign_id.as_str(), &campaign.name))
        h1 { (unit_score.unit_name) }
        p.summary {
            @if let Some(parent) = parent { (parent.name) " · " }
            (campaign.name) " · 综合得分 " strong.score #composite { (score(unit_score.weighted_composite.or(unit_score.composite))) }
            " 区间 " (interval(Headline::of(&unit_score).ranked_interval()))
            " · 样本 " (unit_score.submissions)
            @if !unit_score.sufficient_sample { " " span.warn { "样本不足,不参与排名" } }
        }
        section {
            h2 { "各项指标与同类单位中位数" }
            p.legend { span.key-point {} "本单位得分 " span.key-ci {} "95% 置信区间 " span.key-median {} "同类单位中位数" }
            (indicator_chart(&rows))
            table.figures.indicators {
                thead { tr { th { "指标" } th.num { "得分" } th.num { "区间" } th.num { "同类中位数" } th.num { "差距" } } }
                tbody { @for row in &rows { tr {
                    td { (row.label) } td.num { (score(row.value)) } td.num { (interval(row.interval)) }
                    td.num { (score(row.peer_median)) }
                    td.num { (change(row.value.zip(row.peer_median).map(|(v, m)| v - m))) }
                } } }
            }
        }
        section {
            h2 { "历次综合得分" }
            (line_chart(&points))
        }
        section {
            h2 { "最弱指标" }
            ol.weakest {
                @for s in weak.standings.iter().take(3) {
                    li {
                        (short_label(&s.text)) ":" (score(s.value))
                        @if let Some(rank) = s.rank { ",同类第 " (rank) " / " (s.ranked_count) " 名" }
                        ",比同类平均 " (change(s.value.zip(s.peer_mean).map(|(v, m)| v - m)))
                    }
                }
            }
        }
        section {
            h2 { "电话访问应答情况" }
            table.figures.rates {
                thead { tr { th { "运营商" } th.num { "完成" } th.num { "应答率 RR1" } th.num { "合作率 COOP1" } th.num { "拒访率 REF1" } th.num { "接触率 CON1" } } }
                tbody {
                    (rates_row("合计", &rates.overall.0, &rates.overall.1))
                    @for (carrier, counts, r) in &rates.by_carrier { (rates_row(carrier_label(*carrier), counts, r)) }
                }
            }
        }
    })
}

fn rates_row(label: &str, counts: &GroupCounts, rates: &Rates) -> Markup {
    html! {
        tr {
            td { (label) } td.num { (counts.i) }
            td.num { (percent(rates.response[0])) } td.num { (percent(rates.cooperation[0])) }
            td.num { (percent(rates.refusal[0])) } td.num { (percent(rates.contact[0])) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(vec![]), None);
    }
}
