//! How a server stops: the signals that ask it to, and the order of the drain within the grace
//! period (calls first, then the writer's last commits).

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connections::Connections;
use crate::error::{Error, Result};
use crate::ingest::WriterTask;

/// How long a stopping server waits to announce its last commits to other processes.
pub(super) const ANNOUNCE_AT_SHUTDOWN: Duration = Duration::from_secs(2);
/// The end of the shutdown grace period kept for the writer's last commits and their
/// announcement (at most a quarter of the period): calls get the rest, so that the whole
/// shutdown ends within the period. The writer's queue holds a few thousand submissions,
/// which commit in well under a second.
const WRITER_RESERVE_AT_SHUTDOWN: Duration = Duration::from_secs(1);

/// The task serving gRPC until its shutdown signal.
pub(super) type ServerTask = JoinHandle<std::result::Result<(), tonic::transport::Error>>;

/// When calls must have ended, for a shutdown that must end by `deadline`.
pub(super) fn calls_deadline(deadline: Instant, grace: Duration) -> Instant {
    deadline - (grace / 4).min(WRITER_RESERVE_AT_SHUTDOWN)
}

/// Waits for the server, told to stop, to finish its calls by `calls_deadline`; past it,
/// severs the connections still open and waits for the server's task until `deadline`.
pub(super) async fn drain_calls(
    server: &mut ServerTask,
    connections: &Connections,
    calls_deadline: Instant,
    deadline: Instant,
    grace: Duration,
) -> Result<()> {
    match tokio::time::timeout_at(calls_deadline, &mut *server).await {
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
            if tokio::time::timeout_at(deadline, &mut *server)
                .await
                .is_err()
            {
                server.abort();
            }
            Ok(())
        }
    }
}

/// No call is left to queue submissions: the writer commits and answers what it holds, then
/// stops, even if a dropped call's handle has not been released yet.
pub(super) async fn drain_writer(writer_task: WriterTask, deadline: Instant) {
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
}

pub(super) fn server_result(
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
