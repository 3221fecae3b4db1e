//! Builds the server: store, catalog, writer, auth layer, services, listener; and shuts it
//! down in order (stop accepting, drain calls, drain the writer).
//!
//! This file holds the sequence; `listeners` binds the sockets and sets up the HTTP/2
//! transport, `services` builds what is served, `upkeep` what runs beside it, and `shutdown`
//! how serving ends.

mod listeners;
mod services;
mod shutdown;
mod upkeep;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::aggregate_cache::AggregateCache;
use crate::api::SubmissionApi;
use crate::auth::{CachedVerifier, Gatekeeper, Jwks, Revocations, ensure_keypair};
use crate::catalog::Catalog;
use crate::configuration::ServeArgs;
use crate::connections::Connections;
use crate::error::{Error, Result};
use crate::ingest::{WriterConfig, WriterHandle};
use crate::listener::incoming;
use crate::live::ChangeFeed;
use crate::metrics::{Metrics, WriterMetrics};
use crate::proto::v1::submission_service_server::SubmissionServiceServer;
use crate::store::Store;
use crate::tls::ReloadingCert;

pub use listeners::transport;
pub use services::MAX_MESSAGE_BYTES;
pub use shutdown::shutdown_signal;

use listeners::{bind, warn_if_descriptors_run_short};
use services::Services;
use shutdown::{ServerTask, server_result};

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

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight calls finish and
    /// commits what the writer still holds, all within the grace period: connections still
    /// open near its end are cut (their calls dropped, their unanswered submissions
    /// unacknowledged; every acknowledgement follows its commit, so none is lost).
    pub async fn run_until(
        mut self,
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
        // Background tasks stop with this function (the guards abort them when dropped).
        let _metrics_endpoint = self.serve_metrics();
        let _certificate_watch = self.watch_certificate();
        let tls = self
            .certificate
            .as_ref()
            .map(ReloadingCert::acceptor)
            .transpose()?;
        let grace = Duration::from_secs(self.settings.shutdown_grace_seconds);
        let Services {
            router,
            health,
            stopping,
            dashboard,
        } = self.services(&figures, &changes, writer).await?;
        let upkeep = self.keep_identity_current(&changes);
        let _dashboard = self.serve_dashboard(dashboard);

        let connections = Connections::default();
        let incoming = incoming(
            self.listener,
            self.settings.exposure.listener_settings(),
            tls,
            &connections,
            &self.metrics,
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut server: ServerTask =
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
                let _ = stop_rx.await;
            }));
        tracing::info!(
            address = %self.local_addr,
            tls = self.certificate.is_some(),
            "canvass is serving"
        );

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
        let calls_deadline = shutdown::calls_deadline(deadline, grace);
        let served =
            shutdown::drain_calls(&mut server, &connections, calls_deadline, deadline, grace).await;
        shutdown::drain_writer(writer_task, deadline).await;
        // Other processes' live streams hear the last commits, too.
        let left = deadline.saturating_duration_since(Instant::now());
        changes
            .finish(left.min(shutdown::ANNOUNCE_AT_SHUTDOWN))
            .await;
        drop(upkeep);
        tracing::info!("stopped");
        served
    }
}
