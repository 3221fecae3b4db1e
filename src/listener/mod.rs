//! Accepting client connections, with the limits an exposed server needs: at most
//! `--max-connections` open at once, a handshake timeout, an idle timeout, optional TLS, and
//! a pause after a failed accept instead of a busy loop.
//!
//! Accepting runs in a task of its own that hands finished connections to tonic over a
//! channel: TLS handshakes run side by side, each in its own task, so a slow one never holds
//! up the next client. When tonic stops accepting (shutdown) it drops the channel, the task
//! ends, and the listening socket closes at once.
//!
//! Beyond the limit a new connection is accepted and closed at once rather than left in the
//! kernel's backlog: the kernel completes the TCP handshake of a backlogged connection, so its
//! client would send its request and wait until its deadline; closed, it fails within a round
//! trip and can try another server.

mod activity;
mod frames;
mod policy;

use std::io;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

pub use activity::{ActivityLayer, ConnectionInfo, Watched};
pub use policy::{Expiry, Timeouts, accept_pause, is_connection_error};

use crate::connections::{Connections, Severable};
use crate::metrics::{CONNECTIONS_MAX, CONNECTIONS_OPEN, ConnectionMetrics, Metrics};
use policy::LogThrottle;

/// How often a condition that repeats (refused connections, failing accepts) is logged.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The listener's limits.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub timeouts: Timeouts,
    pub max_connections: usize,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        Self {
            timeouts: Timeouts {
                handshake: Duration::from_secs(10),
                idle: Duration::from_secs(900),
            },
            max_connections: 10_000,
        }
    }
}

/// A client connection as tonic serves it.
pub type Connection = Severable<Watched<Transport>>;

/// Plaintext or TLS.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Accepts connections on `listener` under `settings`, over TLS when `tls` is given; each
/// one can be cut through `connections`.
pub fn incoming(
    listener: TcpListener,
    settings: ListenerSettings,
    tls: Option<TlsAcceptor>,
    connections: &Connections,
    metrics: &Metrics,
) -> impl Stream<Item = io::Result<Connection>> + use<> {
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let max = settings.max_connections.max(1);
    let probe_slots = Arc::downgrade(&slots);
    metrics.on_scrape(move |m| {
        let open = probe_slots
            .upgrade()
            .map_or(0, |slots| max - slots.available_permits());
        m.gauge(CONNECTIONS_OPEN, &[]).set(open as f64);
        m.gauge(CONNECTIONS_MAX, &[]).set(max as f64);
    });
    // A few connections ready for tonic at a time is plenty: it only spawns a task for each.
    let (ready, accepted) = mpsc::channel(16);
    tokio::spawn(accept(
        listener,
        settings,
        tls,
        slots,
        ConnectionMetrics::new(metrics),
        ready,
    ));
    connections.track(ReceiverStream::new(accepted).map(Ok))
}

async fn accept(
    listener: TcpListener,
    settings: ListenerSettings,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    metrics: ConnectionMetrics,
    ready: mpsc::Sender<Watched<Transport>>,
) {
    let mut failures = 0u32;
    let mut refused_log = LogThrottle::new(LOG_INTERVAL);
    let mut failed_log = LogThrottle::new(LOG_INTERVAL);
    loop {
        let accepted = tokio::select! {
            () = ready.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                failures = 0;
                accepted
            }
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                failures = failures.saturating_add(1);
                metrics.accept_errors.increment(1);
                let pause = accept_pause(failures);
                if let Some(suppressed) = failed_log.occurred(Instant::now()) {
                    tracing::warn!(%error, ?pause, suppressed, "cannot accept connections; pausing");
                }
                tokio::select! {
                    () = ready.closed() => return,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.refused.increment(1);
            if let Some(suppressed) = refused_log.occurred(Instant::now()) {
                tracing::warn!(
                    max = settings.max_connections,
                    suppressed,
                    "connection limit reached; closing new connections"
                );
            }
            drop(tcp);
            continue;
        };
        metrics.accepted.increment(1);
        let opened = Instant::now();
        // Small replies go out at once instead of waiting for the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let watch = {
            let (timeouts, metrics) = (settings.timeouts, metrics.clone());
            move |transport| Watched::new(transport, Some(peer), opened, timeouts, slot, metrics)
        };
        match &tls {
            None => {
                if ready.send(watch(Transport::Plain(tcp))).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let (acceptor, ready, metrics) = (acceptor.clone(), ready.clone(), metrics.clone());
                let deadline = opened + settings.timeouts.handshake;
                tokio::spawn(async move {
                    match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = ready.send(watch(Transport::Tls(Box::new(stream)))).await;
                        }
                        Ok(Err(error)) => {
                            metrics.tls_failures.increment(1);
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                        }
                        Err(_) => {
                            metrics.tls_failures.increment(1);
                            metrics.expired(Expiry::Handshake);
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(io) => io.is_write_vectored(),
            Self::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_flush(cx),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Self::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}
