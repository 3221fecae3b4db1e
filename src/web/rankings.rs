//! The rankings page: a peer group's units in rank order with their rank change, score,
//! interval (as numbers and as a bar), sample size; units below the minimum sample listed
//! after the ranked ones, unranked. The rows are those of ListRankings, in its order.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use maud::{Markup, html};
use serde::Deserialize;

use super::WebState;
use super::access::{authorize, rpc};
use super::charts::{interval_bar, score_domain};
use super::error::WebError;
use super::format::{change, interval, kind_label, score};
use super::layout::{Shell, campaign_nav, shell};
use crate::domain::ids::{CampaignId, UnitId};
use crate::domain::peers::PeerGroup;
use crate::domain::ranking::{RankBasis, RankingRow};
use crate::domain::unit::UnitKind;
use crate::error::{Error, Result};
use crate::scores::{RankFilter, RankingQuery};

/// The page's choices: the scope ranked under and the peer group, as in ListRankings.
#[derive(Debug, Default, Deserialize)]
pub struct RankingParams {
    pub scope: Option<String>,
    /// Unit kinds by their labels, comma-separated (`township,sub-district`).
    pub kinds: Option<String>,
}

impl RankingParams {
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(scope) = &self.scope {
            parts.push(format!("scope={scope}"));
        }
        if let Some(kinds) = &self.kinds {
            parts.push(format!("kinds={kinds}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// Parses a peer group from kind labels; `None` for the default group.
pub fn parse_kinds(kinds: Option<&str>) -> Result<Option<PeerGroup>> {
    let Some(kinds) = kinds.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let parsed = kinds
        .split(',')
        .map(|label| {
            UnitKind::ALL
                .into_iter()
                .find(|k| k.label() == label)
                .ok_or_else(|| Error::invalid("kinds", format!("unknown unit kind {label:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PeerGroup::of(parsed))
}

pub async fn page(Path(campaign): Path<String>, Query(params): Query<RankingParams>) -> Markup {
    shell(Shell {
        title: "排名",
        fragment: format!(
            "/fragments/campaigns/{campaign}/rankings{}",
            params.query_string()
        ),
        events: Some(format!("/events/campaigns/{campaign}")),
    })
}

/// # Errors
/// 401/403 as ListRankings; 400 for malformed ids or kinds; 404 for an unknown campaign or scope.
pub async fn fragment(
    State(state): State<WebState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(campaign): Path<String>,
    Query(params): Query<RankingParams>,
) -> Result<Markup, WebError> {
    authorize(&state, &headers, peer, &[rpc::LIST_RANKINGS]).await?;
    let campaign_id = CampaignId::parse(&campaign).map_err(|e| Error::invalid("campaign", e))?;
    let snapshot = state.catalog.snapshot();
    let campaign = snapshot.campaign(&campaign_id)?.clone();
    let scope = match &params.scope {
        Some(scope) => UnitId::parse(scope).map_err(|e| Error::invalid("scope", e))?,
        None => campaign.scope_unit_id.clone(),
    };
    let group = parse_kinds(params.kinds.as_deref())?;
    let query = RankingQuery {
        campaign_id: campaign_id.clone(),
        scope: scope.clone(),
        group,
        basis: RankBasis::Composite,
    };
    let ranking = state.scores.rankings(&query, RankFilter::All).await?;
    let scope_name = snapshot.unit(&scope)?.name.clone();
    let mut campaigns: Vec<_> = snapshot.campaigns.values().collect();
    campaigns.sort_by_key(|c| c.opens_at);
    // The kind levels under the scope: the groups it can rank.
    let levels: BTreeSet<Vec<UnitKind>> = snapshot
        .units
        .subtree(&scope)
        .into_iter()
        .filter(|u| u.id != scope && u.archived_at.is_none())
        .map(|u| u.kind.level().to_vec())
        .collect();
    let kinds_param = |kinds: &[UnitKind]| {
        kinds
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(",")
    };
    let current_kinds = kinds_param(&ranking.group.kinds().collect::<Vec<_>>());
    let domain = score_domain(
        ranking
            .rows
            .iter()
            .filter_map(|r| r.headline.ranked_interval())
            .flat_map(|(lo, hi)| [lo, hi]),
    );
    let unit_link =
        |row: &RankingRow| format!("/campaigns/{campaign_id}/units/{}", row.headline.unit_id);
    let (ranked, unranked): (Vec<&RankingRow>, Vec<&RankingRow>) =
        ranking.rows.iter().partition(|r| r.rank.is_some());
    Ok(html! {
        (campaign_nav(campaign_id.as_str(), &campaign.name))
        h1 { (scope_name) " · " (campaign.name) " 排名" }
        nav.picker {
            span { "轮次:" }
            @for c in &campaigns {
                a.current[c.id == campaign_id] href={"/campaigns/" (c.id) "/rankings?scope=" (scope) "&kinds=" (current_kinds)} { (c.name) }
            }
        }
        nav.picker {
            span { "同类单位:" }
            @for level in &levels {
                @let kinds = kinds_param(level);
                a.current[kinds == current_kinds] href={"/campaigns/" (campaign_id) "/rankings?scope=" (scope) "&kinds=" (kinds)} {
                    (level.iter().map(|k| kind_label(*k)).collect::<Vec<_>>().join("、"))
                }
            }
        }
        p.summary {
            "参与排名 " (ranking.ranked_count) " 个 / 共 " (ranking.peer_count) " 个单位"
            @if let Some(compared) = &ranking.compared_campaign_id { ",对比轮次 " span.code { (compared) } }
        }
        table.figures.rankings #rankings {
            thead { tr {
                th.num { "名次" } th { "变化" } th { "单位" } th.num { "得分" } th.num { "较上轮" }
                th { "95% 置信区间" } th {} th.num { "样本量" }
            } }
            tbody {
                @for row in &ranked { (ranking_row(row, &unit_link(row), domain)) }
            }
            @if !unranked.is_empty() {
                tbody.unranked {
                    tr { th colspan="8" { "样本不足,不参与排名" } }
                    @for row in &unranked { (ranking_row(row, &unit_link(row), domain)) }
                }
            }
        }
    })
}

fn ranking_row(row: &RankingRow, link: &str, domain: (f64, f64)) -> Markup {
    let ci = row.headline.ranked_interval();
    html! {
        tr data-unit=(row.headline.unit_id) data-rank=[row.rank] {
            td.num.rank { (row.rank.map_or_else(|| "–".to_owned(), |r| r.to_string())) }
            td { (arrow(row.rank_change)) }
            td.name { a href=(link) { (row.headline.unit_name) } }
            td.num.score { (score(row.value)) }
            td.num { (change(row.value_change)) }
            td.num.ci { (interval(ci)) }
            td { (interval_bar(row.value, ci, domain)) }
            td.num.sample { (row.headline.submissions) }
        }
    }
}

/// ▲3 for a rise of three places, ▼2 for a fall, – when unchanged or not comparable.
pub fn arrow(rank_change: Option<i64>) -> Markup {
    match rank_change {
        Some(c) if c > 0 => html! { span.up title={"上升 " (c) " 位"} { "▲" (c) } },
        Some(c) if c < 0 => html! { span.down title={"下降 " (-c) " 位"} { "▼" (-c) } },
        Some(_) => html! { span.same title="名次不变" { "=" } },
        None => html! { span.same { "–" } },
    }
}
