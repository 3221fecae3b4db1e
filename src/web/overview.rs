//! A round's overview: the scope's composite and each indicator against the compared round,
//! and per peer group the top and bottom five, the biggest risers and fallers and the units in
//! the bottom five of the last two rounds, all read from the same `Scores` queries as the
//! ranking RPCs.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use maud::{Markup, html};

use super::WebState;
use super::access::{authorize, rpc};
use super::charts::bar_chart;
use super::error::WebError;
use super::format::{change, kind_label, score};
use super::layout::{Shell, campaign_nav, shell};
use super::rankings::arrow;
use crate::domain::ids::CampaignId;
use crate::domain::peers::PeerGroup;
use crate::domain::ranking::{RankBasis, RankingRow};
use crate::domain::unit::UnitKind;
use crate::error::{Error, Result};
use crate::scores::{Laggards, RankFilter, RankingQuery, Scores};

/// How many units the top, bottom and mover lists name.
const LIST_LENGTH: u32 = 5;

pub async fn page(Path(campaign): Path<String>) -> Markup {
    shell(Shell {
        title: "本轮概览",
        fragment: format!("/fragments/campaigns/{campaign}"),
        events: Some(format!("/events/campaigns/{campaign}")),
    })
}

/// One peer group's part of the overview.
struct GroupFacts {
    group: PeerGroup,
    top: Vec<RankingRow>,
    bottom: Vec<RankingRow>,
    risers: Vec<RankingRow>,
    fallers: Vec<RankingRow>,
    laggards: Option<Laggards>,
}

async fn group_facts(scores: &Scores, query: RankingQuery, compared: bool) -> Result<GroupFacts> {
    let top = scores
        .rankings(&query, RankFilter::Top(LIST_LENGTH))
        .await?;
    let bottom = scores
        .rankings(&query, RankFilter::Bottom(LIST_LENGTH))
        .await?;
    let (risers, fallers, laggards) = if compared {
        let movers = scores.movers(&query, None, LIST_LENGTH as usize).await?;
        let laggards = scores.laggards(&query, LIST_LENGTH, 2).await?;
        (movers.risers, movers.fallers, Some(laggards))
    } else {
        (Vec::new(), Vec::new(), None)
    };
    Ok(GroupFacts {
        group: top.group,
        top: top.rows,
        bottom: bottom.rows,
        risers,
        fallers,
        laggards,
    })
}

/// # Errors
/// 401/403 as ListRankings; 404 for an unknown campaign.
pub async fn fragment(
    State(state): State<WebState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(campaign): Path<String>,
) -> Result<Markup, WebError> {
    authorize(&state, &headers, peer, &[rpc::LIST_RANKINGS]).await?;
    let campaign_id = CampaignId::parse(&campaign).map_err(|e| Error::invalid("campaign", e))?;
    let snapshot = state.catalog.snapshot();
    let campaign = snapshot.campaign(&campaign_id)?.clone();
    let questionnaire = snapshot.questionnaire(&campaign.questionnaire_id)?.clone();
    let scope = campaign.scope_unit_id.clone();
    let scores = &state.scores;
    let now = scores.unit_score(&campaign_id, &scope).await?;
    let before = match &campaign.compared_campaign_id {
        Some(id) => Some(scores.unit_score(id, &scope).await?),
        None => None,
    };
    let composite = |s: &crate::domain::scoring::UnitScore| s.weighted_composite.or(s.composite);
    let composite_change = before
        .as_ref()
        .and_then(|b| Some(composite(&now)? - composite(b)?));
    let indicators: Vec<(String, Option<f64>, Option<f64>)> = questionnaire
        .indicators
        .iter()
        .zip(&now.indicators)
        .enumerate()
        .map(|(i, (indicator, scored))| {
            let previous = before.as_ref().and_then(|b| b.indicators.get(i)?.mean);
            let delta = scored.mean.zip(previous).map(|(a, b)| a - b);
            (indicator.text.clone(), scored.mean, delta)
        })
        .collect();
    // The default group under the scope and, when the scope has any, its departments.
    let mut groups = vec![None];
    let has_departments = snapshot
        .units
        .subtree(&scope)
        .iter()
        .any(|u| u.kind == UnitKind::Department && u.archived_at.is_none());
    if has_departments {
        groups.push(PeerGroup::of([UnitKind::Department]));
    }
    let mut facts = Vec::new();
    for group in groups {
        let query = RankingQuery {
            campaign_id: campaign_id.clone(),
            scope: scope.clone(),
            group,
            basis: RankBasis::Composite,
        };
        facts.push(group_facts(scores, query, before.is_some()).await?);
    }
    let unit_link =
        |row: &RankingRow| format!("/campaigns/{campaign_id}/units/{}", row.score.unit_id);
    Ok(html! {
        (campaign_nav(campaign_id.as_str(), &campaign.name))
        h1 { (now.unit_name) " · " (campaign.name) }
        p.headline {
            "群众评价综合得分 " strong.score #composite { (score(composite(&now))) } " 分"
            @if before.is_some() { ",较上轮 " strong { (change(composite_change)) } " 分" }
            ",有效样本 " (now.submissions) " 份。"
        }
        section {
            h2 { "各项指标得分及变化" }
            (bar_chart(&indicators))
        }
        @for f in &facts {
            @let label = f.group.kinds().map(kind_label).collect::<Vec<_>>().join("、");
            section.group {
                h2 { (label) }
                div.columns {
                    (rows_list("前 5 位", &f.top, &unit_link))
                    (rows_list("后 5 位", &f.bottom, &unit_link))
                    @if before.is_some() {
                        (rows_list("进步明显", &f.risers, &unit_link))
                        (rows_list("退位明显", &f.fallers, &unit_link))
                    }
                }
                @if let Some(l) = &f.laggards {
                    @if !l.entries.is_empty() {
                        p.laggards {
                            "连续 " (l.campaigns.len()) " 轮排在后 " (LIST_LENGTH) " 位:"
                            @for (i, e) in l.entries.iter().enumerate() {
                                @if i > 0 { "、" }
                                a href={"/campaigns/" (campaign_id) "/units/" (e.unit.id)} { (e.unit.name) }
                            }
                        }
                    }
                }
                p { a href={"/campaigns/" (campaign_id) "/rankings?kinds=" (f.group.kinds().map(|k| k.label()).collect::<Vec<_>>().join(","))} { "完整排名 ›" } }
            }
        }
    })
}

fn rows_list(title: &str, rows: &[RankingRow], link: &dyn Fn(&RankingRow) -> String) -> Markup {
    html! {
        div.list {
            h3 { (title) }
            ol {
                @for row in rows {
                    li {
                        a href=(link(row)) { (row.score.unit_name) } " "
                        span.score { (score(row.value)) }
                        " " (arrow(row.rank_change))
                    }
                }
            }
        }
    }
}
