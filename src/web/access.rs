//! Who may read a fragment: the caller's bearer token, checked by the gRPC side's
//! [`Gatekeeper`](crate::auth::Gatekeeper) against the RPC whose figures the fragment shows.
//! There is no second verifier, role table or rate limit here.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use super::WebState;
use super::error::WebError;
use crate::auth::{Principal, bearer_token};

/// The RPCs whose permissions the dashboard's fragments borrow.
pub mod rpc {
    pub const LIST_RANKINGS: &str = "/canvass.v1.AggregateService/ListRankings";
    pub const GET_UNIT_SCORE: &str = "/canvass.v1.AggregateService/GetUnitScore";
    pub const WATCH_RANKINGS: &str = "/canvass.v1.AggregateService/WatchRankings";
    pub const GET_RESPONSE_RATES: &str = "/canvass.v1.CallCenterService/GetResponseRates";
    pub const GET_CAMPAIGN_BRIEFING: &str = "/canvass.v1.BriefingService/GetCampaignBriefing";
    pub const LIST_CAMPAIGNS: &str = "/canvass.v1.CatalogService/ListCampaigns";
}

/// Authorizes a request as a call of each RPC in `rpcs` (a fragment that shows the figures
/// of several RPCs needs the permission of each).
///
/// # Errors
/// Unauthenticated without a usable, valid, unrevoked token; PermissionDenied for a role that
/// may not call one of the RPCs; ResourceExhausted past the rate limits.
pub async fn authorize(
    state: &WebState,
    headers: &HeaderMap,
    peer: ConnectInfo<SocketAddr>,
    rpcs: &[&str],
) -> Result<Principal, WebError> {
    let mut principal = None;
    for rpc in rpcs {
        let token = bearer_token(headers).map(str::to_owned);
        principal = Some(state.gate.authorize(rpc, token, Some(peer.0.ip())).await?);
    }
    Ok(principal.expect("every fragment names at least one RPC"))
}
