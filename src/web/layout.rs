//! The page shell every dashboard page shares: no figures, only the place the script fills
//! with the fragment it fetches once it has a token, and the sign-in form it asks for one with.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use maud::{DOCTYPE, Markup, html};

use super::WebState;
use super::access::{authorize, rpc};
use super::error::WebError;

/// A page: its title, where its figures come from and, for live pages, its event stream.
pub struct Shell<'a> {
    pub title: &'a str,
    pub fragment: String,
    pub events: Option<String>,
}

pub fn shell(page: Shell<'_>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) " · Canvass 民调" }
                link rel="stylesheet" href=(super::assets::STYLESHEET);
                script src=(super::assets::SCRIPT) defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Canvass 群众满意度民调" }
                    span.live #live hidden { "实时" }
                    button.signout #signout type="button" hidden { "退出" }
                }
                form.signin #signin hidden {
                    label for="token" { "分析员令牌 (analyst token)" }
                    input #token name="token" type="password" autocomplete="off" required;
                    button type="submit" { "登录" }
                    p.hint { "令牌只保存在本标签页 (sessionStorage),关闭即清除。" }
                }
                p.message #message role="status" hidden {}
                main #figures data-fragment=(page.fragment) data-events=[page.events] {}
            }
        }
    }
}

/// `/`: the campaigns to choose from.
pub async fn index_page() -> Markup {
    shell(Shell {
        title: "民调轮次",
        fragment: "/fragments/campaigns".into(),
        events: None,
    })
}

/// The campaigns, newest first, each with links to its pages.
///
/// # Errors
/// 401 without a valid token, 403 for a role that may not list campaigns.
pub async fn campaigns_fragment(
    State(state): State<WebState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    authorize(&state, &headers, peer, &[rpc::LIST_CAMPAIGNS]).await?;
    let snapshot = state.catalog.snapshot();
    let mut campaigns: Vec<_> = snapshot.campaigns.values().collect();
    campaigns.sort_by(|a, b| b.opens_at.cmp(&a.opens_at).then(a.id.cmp(&b.id)));
    Ok(html! {
        h1 { "民调轮次" }
        table.figures.campaigns {
            thead { tr { th { "轮次" } th { "编号" } th { "范围" } th { "对比轮次" } th {} } }
            tbody {
                @for c in campaigns {
                    @let scope = snapshot.units.get(&c.scope_unit_id).map_or(c.scope_unit_id.as_str(), |u| u.name.as_str());
                    tr {
                        td { a href={"/campaigns/" (c.id)} { (c.name) } }
                        td.code { (c.id) }
                        td { (scope) }
                        td.code { (c.compared_campaign_id.as_ref().map_or("–", |id| id.as_str())) }
                        td { a href={"/campaigns/" (c.id) "/rankings"} { "排名" } }
                    }
                }
            }
        }
    })
}

/// Links to a campaign's pages, shown above each of its fragments.
pub fn campaign_nav(campaign: &str, name: &str) -> Markup {
    html! {
        nav.crumbs {
            a href="/" { "全部轮次" } " › "
            a href={"/campaigns/" (campaign)} { (name) " 概览" } " · "
            a href={"/campaigns/" (campaign) "/rankings"} { "排名" }
        }
    }
}
