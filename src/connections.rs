//! Client connections the server can cut, whatever state they are in.
//!
//! tonic's graceful shutdown asks every connection to finish (HTTP/2 GOAWAY) and waits for all
//! of them, each in a task of its own that nothing else reaches. A socket that never sent the
//! HTTP/2 preface, or a peer that never answers the GOAWAY's ping, is never done, and its task
//! keeps the services, and through them the submission writer, alive. So every accepted socket
//! is wrapped: once [`Connections::sever`] is called its reads and writes fail, hyper ends the
//! connection, and the calls on it are dropped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

/// The connections of one listener.
#[derive(Clone, Default)]
pub struct Connections {
    severed: CancellationToken,
}

impl Connections {
    /// Wraps each connection `incoming` accepts so that [`Connections::sever`] reaches it.
    pub fn track<S, IO>(
        &self,
        incoming: S,
    ) -> impl Stream<Item = io::Result<Severable<IO>>> + use<S, IO>
    where
        S: Stream<Item = io::Result<IO>>,
    {
        let severed = self.severed.clone();
        incoming.map(move |accepted| accepted.map(|io| Severable::new(io, &severed)))
    }

    /// Fails every connection accepted so far (and any accepted later) on its next read or
    /// write.
    pub fn sever(&self) {
        self.severed.cancel();
    }
}

/// A connection that fails once severed.
pub struct Severable<IO> {
    io: IO,
    /// A child of the listener's token: each connection waits on its own, so reads do not
    /// contend for one lock across connections.
    token: CancellationToken,
    /// Polled by reads, so that a connection idle in a read wakes up when severed. Writes only
    /// check the token: a connection waiting to write has read (and registered) before.
    severed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<IO> Severable<IO> {
    fn new(io: IO, listener: &CancellationToken) -> Self {
        let token = listener.child_token();
        let severed = Box::pin(token.clone().cancelled_owned());
        Self { io, token, severed }
    }

    fn check(&self) -> io::Result<()> {
        if self.token.is_cancelled() {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the server is stopping",
            ))
        } else {
            Ok(())
        }
    }
}

impl<IO: Connected> Connected for Severable<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Severable<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.severed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(this.check());
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Severable<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn severing_fails_an_idle_read_and_later_writes() {
        let connections = Connections::default();
        let (client, server) = tokio::io::duplex(64);
        let mut accepted = Box::pin(connections.track(futures::stream::iter([Ok(server)])));
        let mut server = accepted.next().await.unwrap().unwrap();
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let outcome = server.read(&mut buf).await;
            (outcome, server)
        });
        tokio::task::yield_now().await;
        connections.sever();
        let (outcome, mut server) = read.await.unwrap();
        assert_eq!(
            outcome.unwrap_err().kind(),
            io::ErrorKind::ConnectionAborted
        );
        let write = server.write_all(b"late").await;
        assert_eq!(write.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        drop(client);
    }

    #[tokio::test]
    async fn connections_work_until_severed() {
        let connections = Connections::default();
        let (mut client, server) = tokio::io::duplex(64);
        let mut accepted = Box::pin(connections.track(futures::stream::iter([Ok(server)])));
        let mut server = accepted.next().await.unwrap().unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }
}
