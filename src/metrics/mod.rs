//! Prometheus metrics: one registry per server (so several servers in one process, as in
//! the tests, count apart), handles for the hot paths, and probes that read gauges when
//! /metrics is scraped instead of keeping them up to date on every change.
//!
//! Metric names and what they mean are listed in README.md (Observability).

mod endpoint;
mod grpc;

use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub use endpoint::serve as serve_endpoint;
pub use grpc::{GrpcMetricsLayer, code_name};

use crate::listener::Expiry;

/// Latency buckets (seconds): a cached score read takes well under a millisecond, a commit a
/// few milliseconds, a slow call a second.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Submissions per commit: up to the largest `--ingest-max-batch` worth having.
const BATCH_BUCKETS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

type Probe = Box<dyn Fn(&Metrics) + Send + Sync>;

/// One server's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    probes: Mutex<Vec<Probe>>,
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), &BATCH_BUCKETS))
            .expect("the bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self(Arc::new(Inner {
            recorder,
            handle,
            probes: Mutex::new(Vec::new()),
        }));
        metrics.describe();
        metrics
    }

    fn key(name: &'static str, labels: &[(&'static str, SharedString)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.clone()))
            .collect();
        Key::from_parts(name, labels)
    }

    pub fn counter(&self, name: &'static str, labels: &[(&'static str, SharedString)]) -> Counter {
        self.0
            .recorder
            .register_counter(&Self::key(name, labels), &METADATA)
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, SharedString)]) -> Gauge {
        self.0
            .recorder
            .register_gauge(&Self::key(name, labels), &METADATA)
    }

    pub fn histogram(
        &self,
        name: &'static str,
        labels: &[(&'static str, SharedString)],
    ) -> Histogram {
        self.0
            .recorder
            .register_histogram(&Self::key(name, labels), &METADATA)
    }

    /// Runs `probe` before every scrape, to set gauges from the state they describe.
    pub fn on_scrape(&self, probe: impl Fn(&Metrics) + Send + Sync + 'static) {
        self.0
            .probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(probe));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        for probe in self
            .0
            .probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            probe(self);
        }
        self.0.handle.render()
    }

    /// Folds recorded histogram samples into their buckets; called periodically so that
    /// samples do not pile up between scrapes.
    pub fn run_upkeep(&self) {
        self.0.handle.run_upkeep();
    }

    fn describe(&self) {
        let r = &self.0.recorder;
        let counter = |name: &'static str, unit, help: &'static str| {
            r.describe_counter(name.into(), unit, help.into());
        };
        let gauge = |name: &'static str, unit, help: &'static str| {
            r.describe_gauge(name.into(), unit, help.into());
        };
        let histogram = |name: &'static str, unit, help: &'static str| {
            r.describe_histogram(name.into(), unit, help.into());
        };
        counter(
            GRPC_CALLS,
            None,
            "gRPC calls finished, by service, method and status code (streams count when they end)",
        );
        histogram(
            GRPC_CALL_SECONDS,
            Some(Unit::Seconds),
            "gRPC call duration from request headers to the final status",
        );
        histogram(WRITER_BATCH_SIZE, None, "Submissions per group commit");
        histogram(
            WRITER_COMMIT_SECONDS,
            Some(Unit::Seconds),
            "Time to commit one batch of submissions",
        );
        gauge(
            WRITER_QUEUE_DEPTH,
            None,
            "Submissions waiting for the writer",
        );
        gauge(
            WRITER_QUEUE_CAPACITY,
            None,
            "Submissions the writer's queue holds at most",
        );
        gauge(
            DB_POOL_CONNECTIONS,
            None,
            "Open database connections, by pool",
        );
        gauge(DB_POOL_IDLE, None, "Idle database connections, by pool");
        gauge(
            DB_POOL_MAX,
            None,
            "Database connections a pool opens at most",
        );
        gauge(LIVE_STREAMS, None, "Open Watch* streams");
        counter(
            TOKEN_CACHE_HITS,
            None,
            "Calls whose token was found verified in the cache",
        );
        counter(
            TOKEN_CACHE_MISSES,
            None,
            "Calls whose token signature was checked",
        );
        gauge(
            TOKEN_CACHE_ENTRIES,
            None,
            "Verified tokens held in the cache",
        );
        gauge(
            CONNECTIONS_OPEN,
            None,
            "Client connections open (TLS handshakes included)",
        );
        gauge(
            CONNECTIONS_MAX,
            None,
            "Client connections allowed at once (--max-connections)",
        );
        counter(CONNECTIONS_ACCEPTED, None, "Client connections accepted");
        counter(
            CONNECTIONS_REFUSED,
            None,
            "Client connections closed at once because --max-connections were open",
        );
        counter(
            CONNECTIONS_EXPIRED,
            None,
            "Client connections closed by the server, by reason (handshake_timeout, idle_timeout)",
        );
        counter(
            ACCEPT_ERRORS,
            None,
            "Failed accepts (running out of file descriptors among them)",
        );
        counter(
            TLS_HANDSHAKE_FAILURES,
            None,
            "TLS handshakes that failed or timed out",
        );
        counter(
            TLS_RELOADS,
            None,
            "Certificate reloads, by result (ok, error)",
        );
    }
}

pub const GRPC_CALLS: &str = "canvass_grpc_calls_total";
pub const GRPC_CALL_SECONDS: &str = "canvass_grpc_call_duration_seconds";
pub const WRITER_BATCH_SIZE: &str = "canvass_writer_batch_size";
pub const WRITER_COMMIT_SECONDS: &str = "canvass_writer_commit_duration_seconds";
pub const WRITER_QUEUE_DEPTH: &str = "canvass_writer_queue_depth";
pub const WRITER_QUEUE_CAPACITY: &str = "canvass_writer_queue_capacity";
pub const DB_POOL_CONNECTIONS: &str = "canvass_db_pool_connections";
pub const DB_POOL_IDLE: &str = "canvass_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "canvass_db_pool_max_connections";
pub const LIVE_STREAMS: &str = "canvass_live_streams";
pub const TOKEN_CACHE_HITS: &str = "canvass_token_cache_hits_total";
pub const TOKEN_CACHE_MISSES: &str = "canvass_token_cache_misses_total";
pub const TOKEN_CACHE_ENTRIES: &str = "canvass_token_cache_entries";
pub const CONNECTIONS_OPEN: &str = "canvass_connections_open";
pub const CONNECTIONS_MAX: &str = "canvass_connections_max";
pub const CONNECTIONS_ACCEPTED: &str = "canvass_connections_accepted_total";
pub const CONNECTIONS_REFUSED: &str = "canvass_connections_refused_total";
pub const CONNECTIONS_EXPIRED: &str = "canvass_connections_expired_total";
pub const ACCEPT_ERRORS: &str = "canvass_accept_errors_total";
pub const TLS_HANDSHAKE_FAILURES: &str = "canvass_tls_handshake_failures_total";
pub const TLS_RELOADS: &str = "canvass_tls_reloads_total";

/// What the writer records per commit.
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

/// Records nothing: a writer without a server's metrics (tests, the benchmark's setup).
impl Default for WriterMetrics {
    fn default() -> Self {
        Self {
            batch_size: Histogram::noop(),
            commit_seconds: Histogram::noop(),
        }
    }
}

impl WriterMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            batch_size: metrics.histogram(WRITER_BATCH_SIZE, &[]),
            commit_seconds: metrics.histogram(WRITER_COMMIT_SECONDS, &[]),
        }
    }
}

/// What the listener records per connection.
#[derive(Clone, Debug)]
pub struct ConnectionMetrics {
    pub accepted: Counter,
    pub refused: Counter,
    pub accept_errors: Counter,
    pub tls_failures: Counter,
    handshake_expired: Counter,
    idle_expired: Counter,
}

impl ConnectionMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let expired = |reason: Expiry| {
            metrics.counter(CONNECTIONS_EXPIRED, &[("reason", reason.as_str().into())])
        };
        Self {
            accepted: metrics.counter(CONNECTIONS_ACCEPTED, &[]),
            refused: metrics.counter(CONNECTIONS_REFUSED, &[]),
            accept_errors: metrics.counter(ACCEPT_ERRORS, &[]),
            tls_failures: metrics.counter(TLS_HANDSHAKE_FAILURES, &[]),
            handshake_expired: expired(Expiry::Handshake),
            idle_expired: expired(Expiry::Idle),
        }
    }

    pub fn expired(&self, reason: Expiry) {
        match reason {
            Expiry::Handshake => self.handshake_expired.increment(1),
            Expiry::Idle => self.idle_expired.increment(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registry_counts_apart_and_renders_help() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.counter(CONNECTIONS_ACCEPTED, &[]).increment(2);
        b.counter(CONNECTIONS_ACCEPTED, &[]).increment(5);
        assert!(
            a.render()
                .contains("canvass_connections_accepted_total 2\n")
        );
        assert!(
            b.render()
                .contains("canvass_connections_accepted_total 5\n")
        );
        assert!(
            a.render()
                .contains("# HELP canvass_connections_accepted_total")
        );
    }

    #[test]
    fn probes_set_gauges_at_scrape_time() {
        let metrics = Metrics::new();
        let depth = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(7));
        let seen = depth.clone();
        metrics.on_scrape(move |m| {
            m.gauge(WRITER_QUEUE_DEPTH, &[])
                .set(seen.load(std::sync::atomic::Ordering::Relaxed) as f64);
        });
        assert!(metrics.render().contains("canvass_writer_queue_depth 7\n"));
        depth.store(3, std::sync::atomic::Ordering::Relaxed);
        assert!(metrics.render().contains("canvass_writer_queue_depth 3\n"));
    }

    #[test]
    fn seconds_and_sizes_are_histograms_with_buckets() {
        let metrics = Metrics::new();
        WriterMetrics::new(&metrics).batch_size.record(16.0);
        WriterMetrics::new(&metrics).commit_seconds.record(0.002);
        let text = metrics.render();
        assert!(
            text.contains("canvass_writer_batch_size_bucket{le=\"16\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("canvass_writer_commit_duration_seconds_bucket{le=\"0.0025\"} 1"),
            "{text}"
        );
    }
}
