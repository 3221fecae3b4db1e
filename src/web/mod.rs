//! The browser dashboard: pages rendered on the server from the same service layer the gRPC
//! handlers call (`Scores`, `Fieldwork`, the catalog), served over HTTP/1.1 on a listener of
//! its own (`serve --http-listen`). See docs/dashboard.md for why it is built this way.
//!
//! A page is a shell without figures; its script asks for an analyst token once and fetches
//! the figures as HTML fragments with `Authorization: Bearer`, checked by the same
//! [`Gatekeeper`] as every gRPC call. A stream of server-sent events tells the script when a
//! fragment's figures changed.

mod access;
mod assets;
pub mod charts;
mod error;
mod events;
mod format;
mod layout;
mod overview;
mod rankings;
mod unit;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::auth::Gatekeeper;
use crate::briefing::Briefings;
use crate::catalog::Catalog;
use crate::fieldwork::Fieldwork;
use crate::scores::Scores;

/// What the dashboard's handlers read from.
#[derive(Clone)]
pub struct WebState {
    pub scores: Scores,
    pub fieldwork: Fieldwork,
    pub briefings: Briefings,
    pub catalog: Arc<Catalog>,
    pub gate: Arc<Gatekeeper>,
}

/// Every route of the dashboard.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(layout::index_page))
        .route("/campaigns/{campaign}", get(overview::page))
        .route("/campaigns/{campaign}/rankings", get(rankings::page))
        .route("/campaigns/{campaign}/units/{unit}", get(unit::page))
        .route("/fragments/campaigns", get(layout::campaigns_fragment))
        .route("/fragments/campaigns/{campaign}", get(overview::fragment))
        .route(
            "/fragments/campaigns/{campaign}/rankings",
            get(rankings::fragment),
        )
        .route(
            "/fragments/campaigns/{campaign}/units/{unit}",
            get(unit::fragment),
        )
        .route("/events/campaigns/{campaign}", get(events::stream))
        .route("/assets/{name}", get(assets::asset))
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(assets::security_headers))
        .with_state(state)
}

/// Serves the dashboard on `listener` until the task is aborted. Event streams never end by
/// themselves, so the server is stopped by aborting, not by a graceful shutdown.
pub fn serve(listener: TcpListener, state: WebState) -> tokio::task::JoinHandle<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the dashboard's listener failed");
        }
    })
}
