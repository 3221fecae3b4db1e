//! Live updates for the pages: a stream of server-sent events, fed by the change feed the
//! WatchRankings and WatchUnitScore streams follow. It sends `ready` when it opens and
//! `change` after commits touch the campaign (coalesced as the gRPC streams are); the script
//! then fetches the page's fragment again. A client that reconnects refetches too, so what was
//! announced while it was away is not missed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast;

use super::WebState;
use super::access::{authorize, rpc};
use super::error::WebError;
use crate::domain::ids::CampaignId;
use crate::error::Error;
use crate::live::Change;

/// Minimum time between two `change` events of one stream, as for the gRPC watch streams.
const COALESCE_WINDOW: Duration = Duration::from_millis(250);
/// Comments sent on a quiet stream, so proxies and the browser keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// # Errors
/// 401/403 as WatchRankings; 400 for a malformed campaign id; 404 for an unknown campaign.
pub async fn stream(
    State(state): State<WebState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(campaign): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    authorize(&state, &headers, peer, &[rpc::WATCH_RANKINGS]).await?;
    let campaign = CampaignId::parse(&campaign).map_err(|e| Error::invalid("campaign", e))?;
    state.catalog.snapshot().campaign(&campaign)?;
    let changes = state.scores.subscribe();
    let events = futures::stream::unfold(
        (changes, campaign, true),
        |(mut changes, campaign, first)| async move {
            if first {
                let ready = Event::default().event("ready").data(campaign.as_str());
                return Some((Ok(ready), (changes, campaign, false)));
            }
            next_change(&mut changes, &campaign).await?;
            // Let a burst of commits settle into one event.
            tokio::time::sleep(COALESCE_WINDOW).await;
            let changes = changes.resubscribe();
            let change = Event::default().event("change").data(campaign.as_str());
            Some((Ok(change), (changes, campaign, false)))
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Waits for a change that may touch `campaign`; `None` when the feed has closed.
async fn next_change(
    changes: &mut broadcast::Receiver<Change>,
    campaign: &CampaignId,
) -> Option<()> {
    loop {
        match changes.recv().await {
            Ok(Change::Campaign(changed)) if &changed == campaign => return Some(()),
            Ok(Change::Campaign(_)) => {}
            Ok(Change::Unknown) | Err(broadcast::error::RecvError::Lagged(_)) => return Some(()),
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}
