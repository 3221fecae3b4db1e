//! Builds the server: store, catalog, writer, auth layer, services, listener; and shuts it
//! down in order (stop accepting, drain calls, drain the writer).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};

use crate::aggregate_cache::AggregateCache;
use crate::api::{
    AggregateApi, AuditApi, AuthApi, BriefingApi, CallCenterApi, CatalogApi, ExportApi, ReviewApi,
    SubmissionApi,
};
use crate::auth::{AuthLayer, CachedVerifier, Gatekeeper, Jwks, Revocations, ensure_keypair};
use crate::briefing::Briefings;
use crate::catalog::Catalog;
use crate::configuration::ServeArgs;
use crate::connections::Connections;
use crate::error::{Error, Result};
use crate::exports::Exports;
use crate::fieldwork::Fieldwork;
use crate::ingest::{Ingest, WriterConfig, WriterHandle};
use crate::listener::{ActivityLayer, incoming};
use crate::live::ChangeFeed;
use crate::message_limit::MessageLimitLayer;
use crate::metrics::{GrpcMetricsLayer, Metrics, WriterMetrics};
use crate::proto::FILE_DESCRIPTOR_SET;
use crate::proto::v1::aggregate_service_server::AggregateServiceServer;
use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::auth_service_server::AuthServiceServer;
use crate::proto::v1::briefing_service_server::BriefingServiceServer;
use crate::proto::v1::call_center_service_server::CallCenterServiceServer;
use crate::proto::v1::catalog_service_server::CatalogServiceServer;
use crate::proto::v1::export_service_server::ExportServiceServer;
use crate::proto::v1::review_service_server::ReviewServiceServer;
use crate::proto::v1::submission_service_server::SubmissionServiceServer;
use crate::scores::Scores;
use crate::store::Store;
use crate::tls::ReloadingCert;

/// Largest request accepted; a submission is a few hundred bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Request bytes a client may send on one stream before the server has read them: with the
/// upload's in-flight bound, this caps what one stream can make the server hold. A quarter of
/// hyper's default, still ample for a phone on a slow link (a few thousand submissions/s at
/// 100 ms round trips).
const STREAM_WINDOW_BYTES: u32 = 256 * 1024;
/// Unread request bytes of all streams of one connection together.
const CONNECTION_WINDOW_BYTES: u32 = 1024 * 1024;

/// How long a stopping server waits to announce its last commits to other processes.
const ANNOUNCE_AT_SHUTDOWN: Duration = Duration::from_secs(2);
/// The end of the shutdown grace period kept for the writer's last commits and their
/// announcement (at most a quarter of the period): calls get the rest, so that the whole
/// shutdown ends within the period. The writer's queue holds a few thousand submissions,
/// which commit in well under a second.
const WRITER_RESERVE_AT_SHUTDOWN: Duration = Duration::from_secs(1);

/// Seconds between HTTP/2 pings the server sends on every connection, busy or idle.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// A peer that has not answered a ping within this is taken for dead (a phone that lost its
/// network sends no FIN) and its connection closed, with whatever calls it had open.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP/2 transport of every Canvass listener. The benchmark's no-op ceiling uses it too,
/// so the two differ only in the services behind it. Its connections come from
/// [`crate::listener::incoming`], whose idle timeout needs the [`ActivityLayer`] that counts
/// their calls.
pub fn transport() -> Server<Stack<ActivityLayer, Identity>> {
    Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .layer(ActivityLayer)
}

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    settings: ServeArgs,
    store: Store,
    catalog: Arc<Catalog>,
    metrics: Metrics,
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    /// The dashboard's listener, when `--http-listen` asks for one.
    http_listener: Option<(TcpListener, SocketAddr)>,
    certificate: Option<Arc<ReloadingCert>>,
    gate: Arc<Gatekeeper>,
    /// The identity provider's key set, kept current while serving; `None` with Canvass's
    /// own key.
    jwks: Option<Arc<Jwks>>,
}

impl Application {
    /// Makes the data files owner-only, opens the store (applying migrations), loads the
    /// catalog, prepares keys and binds the listener. Nothing is served until
    /// [`Application::run_until`].
    pub async fn build(settings: ServeArgs) -> Result<Self> {
        settings.common.protect_files()?;
        let key_paths = settings.common.key_paths();
        if ensure_keypair(&key_paths)? {
            tracing::info!(path = %key_paths.private_key.display(), "created token signing key");
        }
        let (verifier, jwks) = settings
            .identity
            .verifier(
                &key_paths,
                &settings.common.jwt_issuer,
                &settings.common.jwt_audience,
            )
            .await?;
        let verifier = Arc::new(CachedVerifier::new(verifier, settings.token_cache_capacity));
        let store = Store::open(&settings.store_options()).await?;
        let revocations = Arc::new(Revocations::load(&store).await?);
        let gate = Arc::new(Gatekeeper::new(
            verifier,
            revocations,
            settings.identity.limits(),
        ));
        let catalog = Arc::new(Catalog::load(store.clone()).await?);
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| Error::internal(format!("binding {}: {e}", settings.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("reading bound address: {e}")))?;
        let metrics_listener = match settings.exposure.metrics_listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let http_listener = match settings.exposure.http_listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let certificate = settings
            .exposure
            .tls_files()
            .map(ReloadingCert::load)
            .transpose()?;
        warn_if_descriptors_run_short(settings.exposure.max_connections);
        Ok(Self {
            listener,
            local_addr,
            settings,
            store,
            catalog,
            metrics: Metrics::new(),
            metrics_listener,
            http_listener,
            certificate,
            gate,
            jwks,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where /metrics is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, address)| *address)
    }

    /// Where the browser dashboard is served, when it is.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_listener.as_ref().map(|(_, address)| *address)
    }

    /// Sets the gauges that are read when /metrics is scraped.
    fn probe(&self, writer: &WriterHandle, changes: &ChangeFeed) {
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

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight calls finish and
    /// commits what the writer still holds, all within the grace period: connections still
    /// open near its end are cut (their calls dropped, their unanswered submissions
    /// unacknowledged; every acknowledgement follows its commit, so none is lost).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        // Commits announce changed campaigns here; live score streams subscribe. The rings are
        // bounded: a watcher that falls behind sees "lagged" and recomputes. Dropped when this
        // function returns, which stops its tasks.
        // This process's aggregates in memory: its writer and reviews apply their deltas,
        // other processes' commits (heard through the change feed) make campaigns reload.
        let figures = AggregateCache::new(self.store.clone(), self.settings.score_cache_campaigns);
        let changes = ChangeFeed::start(&self.store, &figures);
        let (writer, writer_task) = WriterHandle::spawn(
            self.store.clone(),
            figures.clone(),
            WriterConfig {
                metrics: WriterMetrics::new(&self.metrics),
                ..self.settings.writer_config()
            },
            changes.commits.clone(),
        );
        self.probe(&writer, &changes);
        // Stops with this function (the guards abort the tasks when dropped).
        let _metrics_endpoint = self.metrics_listener.map(|(listener, address)| {
            tracing::info!(%address, "serving metrics on /metrics");
            AbortOnDrop(crate::metrics::serve_endpoint(
                listener,
                self.metrics.clone(),
            ))
        });
        let _certificate_watch = self.certificate.as_ref().map(|certificate| {
            AbortOnDrop(certificate.watch(
                Duration::from_secs(self.settings.exposure.tls_reload_seconds.max(1)),
                &self.metrics,
            ))
        });
        let tls = self
            .certificate
            .as_ref()
            .map(ReloadingCert::acceptor)
            .transpose()?;
        let phone_hasher = self.settings.phone_hasher()?;
        let grace = Duration::from_secs(self.settings.shutdown_grace_seconds);
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<SubmissionServiceServer<SubmissionApi>>()
            .await;
        health
            .set_serving::<CatalogServiceServer<CatalogApi>>()
            .await;
        health
            .set_serving::<AggregateServiceServer<AggregateApi>>()
            .await;
        health
            .set_serving::<CallCenterServiceServer<CallCenterApi>>()
            .await;
        health.set_serving::<ReviewServiceServer<ReviewApi>>().await;
        health.set_serving::<AuditServiceServer<AuditApi>>().await;
        health.set_serving::<ExportServiceServer<ExportApi>>().await;
        health.set_serving::<AuthServiceServer<AuthApi>>().await;
        health
            .set_serving::<BriefingServiceServer<BriefingApi>>()
            .await;
        // Identity upkeep, stopped when this function returns: the provider's keys, other
        // processes' revocations, idle rate-limit state and the refusal log's summaries.
        let upkeep: Vec<AbortOnDrop> = [
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
        .collect();
        let auth = AuthApi {
            revocations: self.gate.revocations.clone(),
            store: self.store.clone(),
        };

        let fieldwork = Fieldwork::new(
            self.catalog.clone(),
            self.store.clone(),
            figures.clone(),
            changes.commits.clone(),
        );
        let call_center = CallCenterApi {
            fieldwork: fieldwork.clone(),
            phone_hasher: phone_hasher.clone(),
        };
        let review = ReviewApi {
            fieldwork: fieldwork.clone(),
        };
        // Tells open uploads to stop reading at shutdown, so they end once their items in
        // flight are answered instead of holding the shutdown for the whole grace period.
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let submissions = SubmissionApi {
            ingest: Ingest::new(self.catalog.clone(), writer),
            phone_hasher,
            upload_max_in_flight: self.settings.upload_max_in_flight.max(1),
            stopping: stopping_rx,
        };
        let catalog = CatalogApi {
            catalog: self.catalog.clone(),
        };
        let scores = Scores::new(
            self.catalog.clone(),
            figures.clone(),
            changes.watchers.clone(),
        );
        let briefings = Briefings::new(self.catalog.clone(), scores.clone(), fieldwork.clone());
        // Stops with this function; its event streams never end by themselves.
        let _dashboard = self.http_listener.map(|(listener, address)| {
            tracing::info!(dashboard = %format!("http://{address}/"), "serving the dashboard");
            AbortOnDrop(crate::web::serve(
                listener,
                crate::web::WebState {
                    scores: scores.clone(),
                    fieldwork,
                    briefings: briefings.clone(),
                    catalog: self.catalog.clone(),
                    gate: self.gate.clone(),
                },
            ))
        });
        let briefing = BriefingApi { briefings };
        let aggregates = AggregateApi { scores };
        let exports = ExportApi {
            exports: Exports::new(self.catalog.clone(), self.store.clone()),
        };
        let router = transport()
            .layer(GrpcMetricsLayer::new(self.metrics.clone()))
            .layer(MessageLimitLayer)
            .layer(AuthLayer::new(self.gate.clone()))
            .add_service(health_service)
            .add_service(reflection_v1()?)
            .add_service(reflection_v1alpha()?)
            .add_service(
                SubmissionServiceServer::new(submissions)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                CatalogServiceServer::new(catalog).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                AggregateServiceServer::new(aggregates)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                CallCenterServiceServer::new(call_center)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                ReviewServiceServer::new(review).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                AuditServiceServer::new(AuditApi {
                    store: self.store.clone(),
                })
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                ExportServiceServer::new(exports).max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(AuthServiceServer::new(auth).max_decoding_message_size(MAX_MESSAGE_BYTES))
            .add_service(
                BriefingServiceServer::new(briefing).max_decoding_message_size(MAX_MESSAGE_BYTES),
            );

        let connections = Connections::default();
        let incoming = incoming(
            self.listener,
            self.settings.exposure.listener_settings(),
            tls,
            &connections,
            &self.metrics,
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server: JoinHandle<std::result::Result<(), tonic::transport::Error>> =
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
                let _ = stop_rx.await;
            }));
        tracing::info!(
            address = %self.local_addr,
            tls = self.certificate.is_some(),
            "canvass is serving"
        );

        let mut server = server;
        tokio::select! {
            finished = &mut server => return server_result(finished),
            () = shutdown => {}
        }
        tracing::info!("shutting down: draining in-flight calls");
        let deadline = Instant::now() + grace;
        health
            .set_not_serving::<SubmissionServiceServer<SubmissionApi>>()
            .await;
        let _ = stopping.send(true);
        let _ = stop_tx.send(());
        let calls_deadline = deadline - (grace / 4).min(WRITER_RESERVE_AT_SHUTDOWN);
        let served = match tokio::time::timeout_at(calls_deadline, &mut server).await {
            Ok(finished) => server_result(finished),
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "calls still running at the end of the grace period; closing their connections"
                );
                // tonic's graceful shutdown waits for every connection, and a connection that
                // never sent the HTTP/2 preface or ignores the GOAWAY never ends by itself.
                // Severed, each one fails on its next read, and the server's task ends with
                // the last of them.
                connections.sever();
                if tokio::time::timeout_at(deadline, &mut server)
                    .await
                    .is_err()
                {
                    server.abort();
                }
                Ok(())
            }
        };
        // No call is left to queue submissions: the writer commits and answers what it holds,
        // then stops, even if a dropped call's handle has not been released yet.
        writer_task.close();
        if tokio::time::timeout_at(deadline, writer_task)
            .await
            .is_err()
        {
            tracing::warn!(
                "submission writer did not drain within the grace period; \
                 what it still held was not acknowledged"
            );
        }
        // Other processes' live streams hear the last commits, too.
        let left = deadline.saturating_duration_since(Instant::now());
        changes.finish(left.min(ANNOUNCE_AT_SHUTDOWN)).await;
        drop(upkeep);
        tracing::info!("stopped");
        served
    }
}

async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| Error::internal(format!("binding {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("reading bound address: {e}")))?;
    Ok((listener, bound))
}

/// Connections use a file descriptor each, beside the database's and the process's own; a
/// limit below that makes accepts fail (the listener then pauses and retries) before
/// `--max-connections` is reached.
fn warn_if_descriptors_run_short(max_connections: usize) {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given and nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            let needed = max_connections as u64 + DESCRIPTORS_BESIDE_CONNECTIONS;
            let open_files_limit: u64 = limit.rlim_cur;
            if open_files_limit < needed {
                tracing::warn!(
                    open_files_limit,
                    max_connections,
                    "the open-files limit (ulimit -n, LimitNOFILE) is below --max-connections \
                     plus what the server needs besides; raise it or lower --max-connections"
                );
            }
        }
    }
}

/// Descriptors the server holds besides client connections: database files and connections,
/// listeners, the runtime's own.
const DESCRIPTORS_BESIDE_CONNECTIONS: u64 = 128;

/// Aborts a background task when the server stops.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn server_result(
    finished: std::result::Result<
        std::result::Result<(), tonic::transport::Error>,
        tokio::task::JoinError,
    >,
) -> Result<()> {
    match finished {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::internal(format!("server: {e}"))),
        Err(e) => Err(Error::internal(format!("server task: {e}"))),
    }
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // google.rpc error details, so tools can print those an upload result carries.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

fn reflection_v1() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    reflection_builder()
        .build_v1()
        .map_err(|e| Error::internal(format!("reflection: {e}")))
}

fn reflection_v1alpha() -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
> {
    reflection_builder()
        .build_v1alpha()
        .map_err(|e| Error::internal(format!("reflection: {e}")))
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: a SIGTERM sent as soon as the server reports that it
/// is serving must stop it cleanly, not kill it by the signal's default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: std::io::Result<Signal>, name: &'static str) {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            tokio::select! {
                () = received(interrupt, "SIGINT") => {},
                () = received(terminate, "SIGTERM") => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
