//! The sockets Canvass listens on and the HTTP/2 transport of its gRPC listener: binding, the
//! open-files check for `--max-connections`, and the side listeners (/metrics, the dashboard).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};

use super::Application;
use super::upkeep::AbortOnDrop;
use crate::error::{Error, Result};
use crate::listener::ActivityLayer;

/// Request bytes a client may send on one stream before the server has read them: with the
/// upload's in-flight bound, this caps what one stream can make the server hold. A quarter of
/// hyper's default, still ample for a phone on a slow link (a few thousand submissions/s at
/// 100 ms round trips).
const STREAM_WINDOW_BYTES: u32 = 256 * 1024;
/// Unread request bytes of all streams of one connection together.
const CONNECTION_WINDOW_BYTES: u32 = 1024 * 1024;

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

impl Application {
    /// Serves /metrics on its own listener, when there is one, until the guard is dropped.
    pub(super) fn serve_metrics(&mut self) -> Option<AbortOnDrop> {
        self.metrics_listener.take().map(|(listener, address)| {
            tracing::info!(%address, "serving metrics on /metrics");
            AbortOnDrop(crate::metrics::serve_endpoint(
                listener,
                self.metrics.clone(),
            ))
        })
    }

    /// Serves the dashboard, when `--http-listen` asks for it, until the guard is dropped (its
    /// event streams never end by themselves).
    pub(super) fn serve_dashboard(&mut self, state: crate::web::WebState) -> Option<AbortOnDrop> {
        self.http_listener.take().map(|(listener, address)| {
            tracing::info!(dashboard = %format!("http://{address}/"), "serving the dashboard");
            AbortOnDrop(crate::web::serve(listener, state))
        })
    }
}

pub(super) async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
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
pub(super) fn warn_if_descriptors_run_short(max_connections: usize) {
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
