//! What one client connection may cost the server, under the HTTP layer:
//!
//! - a cap on open connections: one over it is closed at once (a flood of
//!   idle sockets must not starve the clients that send requests);
//! - a header-read timeout (hyper's): a request whose headers trickle in
//!   (slowloris) is dropped when they are not complete in time; on an
//!   HTTP/1.1 keep-alive connection it also bounds the wait for the next
//!   request;
//! - an idle timeout: a connection that moves no byte in either direction
//!   for that long is closed — one that finished its TLS handshake and sends
//!   nothing, an HTTP/2 connection between requests whose client does not
//!   answer keep-alive pings, a stalled body.

use std::future::Ready;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The limits on client connections (configured under `[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// Time a connection may move no byte before it is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// Ten seconds is ample for any client's headers, a minute of silence
    /// is more than any browser or SDK leaves a connection idle, and a
    /// thousand connections stay under the common 1,024 file descriptors.
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1000,
        }
    }
}

impl ConnectionLimits {
    /// HTTP/2 keep-alive: a ping this often on a quiet connection…
    pub fn http2_keep_alive_interval(&self) -> Duration {
        self.idle_timeout / 2
    }

    /// …answered within this time, or the connection is closed.
    pub fn http2_keep_alive_timeout(&self) -> Duration {
        self.header_read_timeout
    }
}

/// Admits a connection while under the cap and wraps it in the idle
/// timeout; refuses it (the server closes it) over the cap.
#[derive(Debug, Clone)]
pub struct LimitedAcceptor {
    permits: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl LimitedAcceptor {
    pub fn new(limits: &ConnectionLimits) -> Self {
        LimitedAcceptor {
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Takes a place for a new connection, if one is free.
    fn admit<S>(&self, stream: S) -> io::Result<IdleTimeout<S>> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(IdleTimeout::new(stream, self.idle_timeout, permit)),
            Err(_) => {
                tracing::debug!("connection limit reached; closing a new connection");
                Err(io::Error::other("connection limit reached"))
            }
        }
    }
}

impl<S> axum_server::accept::Accept<TcpStream, S> for LimitedAcceptor {
    type Stream = IdleTimeout<TcpStream>;
    type Service = S;
    type Future = Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(self.admit(stream).map(|stream| (stream, service)))
    }
}

/// A stream that fails with `TimedOut` once it has moved no byte for its
/// idle time, and holds its place under the connection cap until dropped.
#[derive(Debug)]
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _place: OwnedSemaphorePermit,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, idle: Duration, place: OwnedSemaphorePermit) -> Self {
        IdleTimeout {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _place: place,
        }
    }

    /// Bytes moved: the idle time starts over.
    fn moved(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// Nothing moved: an error once the idle time is up.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S> IdleTimeout<S> {
    /// A write that moved bytes restarts the idle time; one still pending
    /// fails once the idle time is up.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.check_idle(cx).map(|r| r.map(|()| 0)),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.check_idle(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after_write(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(max_connections: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections,
        }
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_refused_until_one_closes() {
        let acceptor = LimitedAcceptor::new(&limits(2));
        let first = acceptor.admit(());
        let second = acceptor.admit(());
        assert!(first.is_ok() && second.is_ok());
        assert!(acceptor.admit(()).is_err());
        drop(first);
        assert!(acceptor.admit(()).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_times_out_and_traffic_keeps_one_open() {
        let acceptor = LimitedAcceptor::new(&limits(10));
        let (client, server) = tokio::io::duplex(64);
        let mut server = acceptor.admit(server).map_err(|e| e.to_string()).unwrap();
        let mut client = client;
        let mut buf = [0u8; 8];

        // Bytes every 50 s keep the connection open past the 60 s idle time.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(50)).await;
            client.write_all(b"x").await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        }
        // Then silence: the read fails once 60 s have passed without a byte.
        let started = Instant::now();
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }
}
