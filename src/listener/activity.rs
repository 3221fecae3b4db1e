//! Per-connection timeouts: the handshake timeout (the HTTP/2 preface, the first frame, any
//! header block) and the idle timeout (no call open). hyper has neither for HTTP/2, so the
//! connection's reads enforce them: a read fails once one has passed, and hyper closes the
//! connection. Calls are counted by [`ActivityLayer`], which finds the connection's
//! [`Activity`] in the request's extensions (tonic puts each connection's
//! [`ConnectionInfo`] there).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use http::{Request, Response};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use super::frames::FrameScanner;
use super::policy::{ConnectionState, Timeouts, expiry};
use crate::metrics::ConnectionMetrics;
use crate::response_body::{FrameHook, HookedBody};

/// What the calls on a connection tell its timeouts.
#[derive(Debug)]
pub struct Activity {
    streams: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// The connection's reader, woken when its last call ends so it arms the idle timeout.
    reader: AtomicWaker,
}

impl Activity {
    fn new(now: Instant) -> Self {
        Self {
            streams: AtomicUsize::new(0),
            idle_since: Mutex::new(now),
            reader: AtomicWaker::new(),
        }
    }

    fn call_started(self: &Arc<Self>) -> CallGuard {
        self.streams.fetch_add(1, Ordering::AcqRel);
        CallGuard(self.clone())
    }
}

/// Counts one call until dropped (with the response body, once it is sent or abandoned).
#[derive(Debug)]
pub struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        // The idle time is set before the count drops, so a reader that sees no call also
        // sees when the last one ended.
        *activity
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        if activity.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.reader.wake();
        }
    }
}

/// What tonic hands each call about its connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub remote_addr: Option<SocketAddr>,
    pub activity: Arc<Activity>,
}

/// An accepted connection with its timeouts, counted among the listener's connections until
/// dropped.
pub struct Watched<IO> {
    io: IO,
    remote_addr: Option<SocketAddr>,
    timeouts: Timeouts,
    activity: Arc<Activity>,
    scanner: FrameScanner,
    waiting_since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    metrics: ConnectionMetrics,
    _slot: OwnedSemaphorePermit,
}

impl<IO> Watched<IO> {
    /// `opened` is when the TCP connection was accepted: a TLS handshake counts against the
    /// handshake timeout too.
    pub fn new(
        io: IO,
        remote_addr: Option<SocketAddr>,
        opened: Instant,
        timeouts: Timeouts,
        slot: OwnedSemaphorePermit,
        metrics: ConnectionMetrics,
    ) -> Self {
        Self {
            io,
            remote_addr,
            timeouts,
            activity: Arc::new(Activity::new(opened)),
            scanner: FrameScanner::default(),
            waiting_since: Some(opened),
            timer: Box::pin(tokio::time::sleep_until(opened + timeouts.handshake)),
            metrics,
            _slot: slot,
        }
    }

    fn state(&self) -> ConnectionState {
        ConnectionState {
            waiting_since: self.waiting_since,
            streams: self.activity.streams.load(Ordering::Acquire),
            idle_since: *self
                .activity
                .idle_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Fails once a timeout has passed; otherwise arms the timer for the next deadline.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        self.activity.reader.register(cx.waker());
        loop {
            match expiry(&self.state(), &self.timeouts, Instant::now()) {
                Err(expired) => {
                    self.metrics.expired(expired);
                    tracing::debug!(peer = ?self.remote_addr, reason = expired.as_str(), "closing connection");
                    return Err(io::Error::new(io::ErrorKind::TimedOut, expired.as_str()));
                }
                Ok(None) => return Ok(()),
                Ok(Some(deadline)) => {
                    if self.timer.deadline() != deadline {
                        self.timer.as_mut().reset(deadline);
                    }
                    // Registers the waker; a timer already due is looked at again at once.
                    if self.timer.as_mut().poll(cx).is_pending() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

impl<IO> tonic::transport::server::Connected for Watched<IO> {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo {
            remote_addr: self.remote_addr,
            activity: self.activity.clone(),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.scanner.feed(&buf.filled()[before..]);
                let owes = this.scanner.owes();
                match (owes, this.waiting_since) {
                    (true, None) => this.waiting_since = Some(Instant::now()),
                    (false, Some(_)) => this.waiting_since = None,
                    _ => {}
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // Nothing to read: the moment to look at the timeouts (a peer that keeps sending
            // is never idle, and its header blocks end or its reads pause).
            Poll::Pending => match this.check(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts each call against its connection's idle timeout, from its request to the end of its
/// response.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityLayer;

impl<S> Layer<S> for ActivityLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for Counted<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<Guarded<ResBody>>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let guard = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.activity.call_started());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| HookedBody::new(inner, guard)))
        })
    }
}

/// A response body that keeps its call counted until it is dropped.
pub type Guarded<B> = HookedBody<B, Option<CallGuard>>;

/// The guard only has to live as long as the body; the frames pass untouched.
impl<D> FrameHook<D> for Option<CallGuard> {}
