//! Where live score streams hear about commits: those of this process, and on PostgreSQL those
//! of every other server process on the same database (LISTEN/NOTIFY), so a dashboard watching
//! one process sees visits another process accepted.
//!
//! Announcements leave in batches, a fraction of a second apart, from a task of their own: the
//! writer never waits for them, and `NOTIFY` stays out of the ingest transactions (PostgreSQL
//! takes a database-wide lock to commit a transaction that notifies). Announcements made while
//! a listener reconnects are lost, so each (re)connected listener tells its streams that
//! anything may have changed, and they recompute. A process that stops announces what it has
//! not announced yet once its writers are done ([`ChangeFeed::finish`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::aggregate_cache::AggregateCache;
use crate::auth::REVOCATIONS_CHANGED;
use crate::domain::ids::CampaignId;
use crate::store::Store;

/// How long commits are gathered into one announcement.
const ANNOUNCE_WINDOW: Duration = Duration::from_millis(100);
/// Pause before listening again after the database refused.
const RELISTEN_PAUSE: Duration = Duration::from_secs(1);
/// Changes a slow subscriber may fall behind before it hears "lagged" (and recomputes).
const RING: usize = 1024;

/// What a live stream hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A commit touched this campaign.
    Campaign(CampaignId),
    /// Announcements may have gone unheard: any campaign may have changed.
    Unknown,
}

/// The change channels of one server process. Writers send the campaigns they committed to
/// `commits`; live streams subscribe to `watchers`.
pub struct ChangeFeed {
    pub commits: broadcast::Sender<CampaignId>,
    pub watchers: broadcast::Sender<Change>,
    /// Notified when another process announced a revocation, or announcements may have gone
    /// unheard (the token revocations are then reloaded).
    pub revocations: Arc<Notify>,
    relay: JoinHandle<()>,
    listener: Option<JoinHandle<()>>,
}

impl ChangeFeed {
    /// Starts relaying. Another process's commit marks its campaign stale in `figures`
    /// before the live streams hear of it, so what they recompute reads it afresh.
    pub fn start(store: &Store, figures: &AggregateCache) -> Self {
        let (watchers, _) = broadcast::channel(RING);
        let (commits, local) = broadcast::channel(RING);
        let revocations = Arc::new(Notify::new());
        let (relay, listener) = if store.is_shared() {
            // Tells this process's own announcements from other processes'.
            let instance = Uuid::new_v4().simple().to_string();
            (
                tokio::spawn(relay(
                    store.clone(),
                    instance.clone(),
                    local,
                    watchers.clone(),
                )),
                Some(tokio::spawn(listen(
                    store.clone(),
                    instance,
                    figures.clone(),
                    watchers.clone(),
                    revocations.clone(),
                ))),
            )
        } else {
            (tokio::spawn(forward(local, watchers.clone())), None)
        };
        Self {
            commits,
            watchers,
            revocations,
            relay,
            listener,
        }
    }

    /// Announces the changes not announced yet and stops. Call once the writers are done: the
    /// relay finishes when the last sender of `commits` is gone (this one goes here). Waits
    /// at most `limit` for that.
    pub async fn finish(mut self, limit: Duration) {
        if self.listener.is_none() {
            // No other process shares the database, so there is nobody to tell.
            return;
        }
        // Gives up this feed's own sender (a field of a type with `Drop` cannot be moved out).
        drop(std::mem::replace(
            &mut self.commits,
            broadcast::channel(1).0,
        ));
        if tokio::time::timeout(limit, &mut self.relay).await.is_err() {
            tracing::warn!("changes still pending at shutdown were not announced");
        }
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.relay.abort();
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

/// An announcement: which process, which campaign.
fn payload(instance: &str, campaign: &CampaignId) -> String {
    format!("{instance}/{}", campaign.as_str())
}

/// The campaign of another process's announcement; `None` for this process's own or for a
/// payload that is not an announcement.
fn announced_elsewhere(instance: &str, payload: &str) -> Option<CampaignId> {
    let (from, campaign) = payload.split_once('/')?;
    if from == instance {
        return None;
    }
    CampaignId::parse(campaign).ok()
}

/// Hands this process's commits to its live streams (the only process on its database).
async fn forward(mut local: broadcast::Receiver<CampaignId>, watchers: broadcast::Sender<Change>) {
    loop {
        // Nobody watching is fine.
        let _ = match local.recv().await {
            Ok(campaign) => watchers.send(Change::Campaign(campaign)),
            Err(broadcast::error::RecvError::Lagged(_)) => watchers.send(Change::Unknown),
            Err(broadcast::error::RecvError::Closed) => return,
        };
    }
}

/// Hands this process's commits to its live streams at once, and announces them to the other
/// processes once per window.
async fn relay(
    store: Store,
    instance: String,
    mut local: broadcast::Receiver<CampaignId>,
    watchers: broadcast::Sender<Change>,
) {
    let mut changed = BTreeSet::new();
    let mut closed = false;
    while !closed {
        let deadline = tokio::time::Instant::now() + ANNOUNCE_WINDOW;
        loop {
            let received = if changed.is_empty() {
                local.recv().await
            } else {
                match tokio::time::timeout_at(deadline, local.recv()).await {
                    Ok(received) => received,
                    Err(_) => break,
                }
            };
            match received {
                Ok(campaign) => {
                    // Nobody watching is fine.
                    let _ = watchers.send(Change::Campaign(campaign.clone()));
                    changed.insert(campaign);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "change relay fell behind; some changes go unannounced"
                    );
                    let _ = watchers.send(Change::Unknown);
                }
                Err(broadcast::error::RecvError::Closed) => {
                    closed = true;
                    break;
                }
            }
        }
        if changed.is_empty() {
            continue;
        }
        let payloads: Vec<String> = changed.iter().map(|c| payload(&instance, c)).collect();
        changed.clear();
        let store = store.clone();
        let announce = async move {
            if let Err(error) = store.announce_changes(&payloads).await {
                tracing::warn!(%error, "could not announce changed campaigns to other processes");
            }
        };
        if closed {
            announce.await;
        } else {
            // In a task of its own, so a slow database never holds up local streams.
            tokio::spawn(announce);
        }
    }
}

/// Hands other processes' announcements to this process's live streams, and their
/// revocations to its token checks.
async fn listen(
    store: Store,
    instance: String,
    figures: AggregateCache,
    watchers: broadcast::Sender<Change>,
    revocations: Arc<Notify>,
) {
    loop {
        let mut listener = match store.change_listener().await {
            Ok(Some(listener)) => listener,
            // Only a shared store is listened to.
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for other processes' changes; retrying");
                tokio::time::sleep(RELISTEN_PAUSE).await;
                continue;
            }
        };
        // Listening (again): whatever was announced before went unheard.
        figures.mark_all_stale();
        let _ = watchers.send(Change::Unknown);
        revocations.notify_one();
        loop {
            match listener.next().await {
                Ok(Some(payload)) if payload == REVOCATIONS_CHANGED => revocations.notify_one(),
                Ok(Some(payload)) => {
                    if let Some(campaign) = announced_elsewhere(&instance, &payload) {
                        figures.mark_stale(&campaign);
                        let _ = watchers.send(Change::Campaign(campaign));
                    }
                }
                // The connection dropped and the listener has already reconnected.
                Ok(None) => {
                    tracing::warn!("listener for other processes' changes reconnected");
                    figures.mark_all_stale();
                    let _ = watchers.send(Change::Unknown);
                    revocations.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, "lost the listener for other processes' changes");
                    tokio::time::sleep(RELISTEN_PAUSE).await;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_name_their_process_and_campaign() {
        let campaign = CampaignId::parse("jinshi-2026-q4").unwrap();
        let sent = payload("a1", &campaign);
        assert_eq!(announced_elsewhere("b2", &sent), Some(campaign));
        assert_eq!(announced_elsewhere("a1", &sent), None);
        assert_eq!(announced_elsewhere("b2", "not an announcement"), None);
        // Revocations travel on the same channel and are never taken for a campaign.
        assert_eq!(announced_elsewhere("b2", REVOCATIONS_CHANGED), None);
    }
}
