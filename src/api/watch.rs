//! Live updates: a stream that sends the current figures, then again whenever a commit touches
//! the campaign, coalesced so a busy campaign costs each watcher a few recomputations a second.
//!
//! Each stream has a one-message buffer. A consumer that stops reading holds up only its own
//! task; change notifications meanwhile overflow the bounded broadcast ring and are reported as
//! "lagged", which just means "recompute". Ingestion never waits for watchers.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::domain::ids::CampaignId;
use crate::live::Change;
use crate::scores::Scores;

/// Minimum time between two updates of one stream.
const COALESCE_WINDOW: Duration = Duration::from_millis(250);

/// Streams `first`, then `compute(scores)` after every change to `campaign` that alters it.
pub fn watch<T, F, Fut>(
    scores: Scores,
    campaign: CampaignId,
    first: T,
    compute: F,
) -> ReceiverStream<Result<T, Status>>
where
    T: PartialEq + Clone + Send + 'static,
    F: Fn(Scores) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Status>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1);
    let changes = scores.subscribe();
    tokio::spawn(follow(scores, campaign, first, compute, changes, tx));
    ReceiverStream::new(rx)
}

async fn follow<T, F, Fut>(
    scores: Scores,
    campaign: CampaignId,
    first: T,
    compute: F,
    mut changes: broadcast::Receiver<Change>,
    tx: mpsc::Sender<Result<T, Status>>,
) where
    T: PartialEq + Clone + Send + 'static,
    F: Fn(Scores) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Status>> + Send + 'static,
{
    if tx.send(Ok(first.clone())).await.is_err() {
        return;
    }
    let mut last = first;
    loop {
        // Wait for a commit that touches this campaign, or for the client to leave.
        loop {
            tokio::select! {
                () = tx.closed() => return,
                change = changes.recv() => match change {
                    Ok(Change::Campaign(changed)) if changed == campaign => break,
                    Ok(Change::Campaign(_)) => {}
                    Ok(Change::Unknown) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
        // Let a burst of commits settle into one update.
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(COALESCE_WINDOW) => {}
        }
        // Start listening afresh: whatever was announced so far is covered by this computation.
        changes = changes.resubscribe();
        match compute(scores.clone()).await {
            Ok(current) if current != last => {
                if tx.send(Ok(current.clone())).await.is_err() {
                    return;
                }
                last = current;
            }
            Ok(_) => {}
            Err(status) => {
                let _ = tx.send(Err(status)).await;
                return;
            }
        }
    }
}
