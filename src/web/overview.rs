//! A round's overview: the facts of its briefing (`Briefings::briefing`, the function behind
//! GetCampaignBriefing): the scope's composite and each indicator against the compared round,
//! every change judged against its margin of error; per peer group the top and bottom five,
//! the biggest risers and fallers, the units in the bottom five of the last rounds; the
//! weakest indicators, response rates and grievances.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use maud::{Markup, html};

use super::WebState;
use super::access::{authorize, rpc};
use super::charts::{Bar, bar_chart};
use super::error::WebError;
use super::format::{change, kind_label, percent, score, short_label};
use super::layout::{Shell, campaign_nav, shell};
use super::rankings::arrow;
use crate::briefing::{BriefingQuery, PlacedUnit};
use crate::domain::briefing::{ScoreChange, Verdict};
use crate::domain::ids::CampaignId;
use crate::error::Error;

pub async fn page(Path(campaign): Path<String>) -> Markup {
    shell(Shell {
        title: "本轮概览",
        fragment: format!("/fragments/campaigns/{campaign}"),
        events: Some(format!("/events/campaigns/{campaign}")),
    })
}

/// A change as the page prints it: a rise or fall beyond its margin of error with its sign and
/// colour, one within it marked "≈" and never coloured as a rise or fall.
pub fn change_note(c: Option<&ScoreChange>) -> String {
    match c {
        None => String::new(),
        Some(c) => match c.verdict() {
            Verdict::Rise => format!("{} ↑", change(Some(c.delta))),
            Verdict::Fall => format!("{} ↓", change(Some(c.delta))),
            Verdict::WithinMargin => format!("{} ≈", change(Some(c.delta))),
        },
    }
}

fn change_markup(c: Option<&ScoreChange>) -> Markup {
    let class = match c.map(ScoreChange::verdict) {
        Some(Verdict::Rise) => "up",
        Some(Verdict::Fall) => "down",
        _ => "same",
    };
    let title = c.map(|c| match c.margin {
        Some(m) => format!(
            "误差范围 ±{m:.2}(样本 {} → {})",
            c.before.sample_size, c.after.sample_size
        ),
        None => "误差范围未知".into(),
    });
    html! { span class=(class) title=[title] { (change_note(c)) } }
}

/// # Errors
/// 401/403 as GetCampaignBriefing; 404 for an unknown campaign.
pub async fn fragment(
    State(state): State<WebState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(campaign): Path<String>,
) -> Result<Markup, WebError> {
    authorize(&state, &headers, peer, &[rpc::GET_CAMPAIGN_BRIEFING]).await?;
    let campaign_id = CampaignId::parse(&campaign).map_err(|e| Error::invalid("campaign", e))?;
    let b = state
        .briefings
        .briefing(&BriefingQuery::new(campaign_id.clone()))
        .await?;
    let bars: Vec<Bar> = b
        .indicators
        .iter()
        .map(|i| Bar {
            label: short_label(&i.text).to_owned(),
            value: i.estimate.map(|e| e.value),
            note: change_note(i.change.as_ref()),
        })
        .collect();
    let name_of = |code: &crate::domain::ids::Code| -> String {
        b.indicators
            .iter()
            .find(|i| &i.code == code)
            .map_or(code.as_str(), |i| short_label(&i.text))
            .to_owned()
    };
    let unit_link =
        |p: &PlacedUnit| format!("/campaigns/{campaign_id}/units/{}", p.row.headline.unit_id);
    let compared = b.compared.is_some();
    Ok(html! {
        (campaign_nav(campaign_id.as_str(), &b.campaign.name))
        h1 { (b.scope.name) " · " (b.campaign.name) }
        p.headline {
            "群众评价综合得分 " strong.score #composite { (score(b.composite.map(|e| e.value))) } " 分"
            @if let Some(c) = &b.composite_change { ",较上轮 " strong { (change_markup(Some(c))) } }
            ",有效样本 " (b.score.submissions) " 份。"
            @if let Some(code) = &b.biggest_rise { " 上升最多:" (name_of(code)) "。" }
            @if let Some(code) = &b.biggest_fall { " 下降最多:" (name_of(code)) "。" }
        }
        @if compared { p.legend { "↑ ↓ 超出误差范围的变化;≈ 在误差范围内(不算升降)。" } }
        section {
            h2 { "各项指标得分及变化" }
            (bar_chart(&bars))
        }
        @for g in &b.groups {
            @let label = g.group.kinds().map(kind_label).collect::<Vec<_>>().join("、");
            section.group {
                h2 { (label) " (参与排名 " (g.ranked_count) " / " (g.peer_count) ")" }
                @if g.ranked_count == 0 { p.summary { "各单位样本均不足,本轮不排名。" } }
                div.columns hidden[g.ranked_count == 0] {
                    (placed_list(&format!("前 {} 位", b.top_n), &g.top, &unit_link, standing))
                    (placed_list(&format!("后 {} 位", b.top_n), &g.bottom, &unit_link, standing))
                    @if compared {
                        (placed_list("进步明显", &g.risers, &unit_link, movement))
                        (placed_list("退位明显", &g.fallers, &unit_link, movement))
                    }
                }
                @if let Some(l) = &g.laggards {
                    @if !l.entries.is_empty() {
                        p.laggards {
                            "连续 " (l.campaigns.len()) " 轮排在后 " (b.top_n) " 位:"
                            @for (i, e) in l.entries.iter().enumerate() {
                                @if i > 0 { "、" }
                                a href={"/campaigns/" (campaign_id) "/units/" (e.unit.id)} { (e.unit.name) }
                            }
                        }
                    }
                }
                p { a href={"/campaigns/" (campaign_id) "/rankings?kinds=" (g.group.kinds().map(|k| k.label()).collect::<Vec<_>>().join(","))} { "完整排名 ›" } }
            }
        }
        section {
            h2 { "全域最弱指标" }
            ol.weakest { @for s in &b.weakest_indicators { li { (short_label(&s.text)) ":" (score(s.value)) } } }
        }
        section {
            h2 { "电话访问与群众诉求" }
            p {
                "电话访问应答率 (RR1) " (percent(b.response_rates.overall.1.response[0]))
                @for (carrier, _, r) in &b.response_rates.by_carrier {
                    "," (super::format::carrier_label(*carrier)) " " (percent(r.response[0]))
                }
                "。共收集群众诉求 " (b.grievances.raised) " 件,已办结 " (b.grievances.resolved) " 件。"
            }
        }
    })
}

/// A list of units, each linked, followed by what `detail` says of it.
fn placed_list(
    title: &str,
    rows: &[PlacedUnit],
    link: &dyn Fn(&PlacedUnit) -> String,
    detail: fn(&PlacedUnit) -> Markup,
) -> Markup {
    html! {
        div.list {
            h3 { (title) }
            ol {
                @for p in rows {
                    li { a href=(link(p)) { (p.row.headline.unit_name) } " " (detail(p)) }
                }
            }
        }
    }
}

/// Top and bottom places: the score and the places moved.
fn standing(p: &PlacedUnit) -> Markup {
    html! { span.score { (score(p.row.value)) } " " (arrow(p.row.rank_change)) }
}

/// Risers and fallers: the places moved and, beside them, the score change judged against its
/// margin of error, since a rank change alone says nothing about significance.
fn movement(p: &PlacedUnit) -> Markup {
    html! {
        (arrow(p.row.rank_change)) " "
        span.moved-change { "(" (change_markup(p.change.as_ref())) ")" }
    }
}
