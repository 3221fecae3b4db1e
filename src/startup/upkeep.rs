//! What runs beside serving and stops with it: the gauges read at each /metrics scrape, the
//! certificate's reloads, and identity upkeep (the provider's keys, other processes'
//! revocations, idle rate-limit state and the refusal log's summaries).

use std::time::Duration;

use tokio::task::JoinHandle;

use super::Application;
use crate::ingest::WriterHandle;
use crate::live::ChangeFeed;

/// Aborts a background task when the server stops.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Application {
    /// Sets the gauges that are read when /metrics is scraped.
    pub(super) fn probe(&self, writer: &WriterHandle, changes: &ChangeFeed) {
        use crate::metrics::*;
        let queue = writer.queue_probe();
        let watchers = changes.watchers.downgrade();
        let store = self.store.clone();
        let verifier = self.gate.verifier.clone();
        self.metrics.on_scrape(move |m| {
            if let Some((depth, capacity)) = queue() {
                m.gauge(WRITER_QUEUE_DEPTH, &[]).set(depth as f64);
                m.gauge(WRITER_QUEUE_CAPACITY, &[]).set(capacity as f64);
            }
            // Every live stream holds one receiver of the watchers' channel.
            let streams = watchers.upgrade().map_or(0, |w| w.receiver_count());
            m.gauge(LIVE_STREAMS, &[]).set(streams as f64);
            for pool in store.pool_stats() {
                let labels = [("pool", pool.name.into())];
                m.gauge(DB_POOL_CONNECTIONS, &labels)
                    .set(f64::from(pool.size));
                m.gauge(DB_POOL_IDLE, &labels).set(pool.idle as f64);
                m.gauge(DB_POOL_MAX, &labels).set(f64::from(pool.max));
            }
            m.counter(TOKEN_CACHE_HITS, &[]).absolute(verifier.hits());
            m.counter(TOKEN_CACHE_MISSES, &[])
                .absolute(verifier.verifications());
            m.gauge(TOKEN_CACHE_ENTRIES, &[])
                .set(verifier.cached() as f64);
        });
    }

    /// Reloads the certificate, when there is one, until the guard is dropped.
    pub(super) fn watch_certificate(&self) -> Option<AbortOnDrop> {
        self.certificate.as_ref().map(|certificate| {
            AbortOnDrop(certificate.watch(
                Duration::from_secs(self.settings.exposure.tls_reload_seconds.max(1)),
                &self.metrics,
            ))
        })
    }

    /// Identity upkeep, stopped when the guards are dropped: the provider's keys, other
    /// processes' revocations, idle rate-limit state and the refusal log's summaries.
    pub(super) fn keep_identity_current(&self, changes: &ChangeFeed) -> Vec<AbortOnDrop> {
        [
            self.jwks
                .clone()
                .map(|jwks| tokio::spawn(jwks.keep_current())),
            Some(tokio::spawn(self.gate.revocations.clone().keep_current(
                self.store.clone(),
                changes.revocations.clone(),
                self.settings.identity.revocation_reload(),
            ))),
            Some(tokio::spawn(self.gate.clone().maintain())),
        ]
        .into_iter()
        .flatten()
        .map(AbortOnDrop)
        .collect()
    }
}
