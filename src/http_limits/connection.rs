//! The TCP stream under the HTTP codec, with a clock: it starts a request's deadline at its
//! first byte and closes a connection whose request head is not complete by then, or that its
//! worker shed. Once the head has reached the application, the body is the
//! [`super::deadline`] middleware's to watch; the two meet in the connection's
//! [`RequestClock`], kept in the connection's data.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::rt::net::TcpStream;
use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};

use super::TimeLimits;
use super::clock::{Phase, Registry, RequestClock};
use crate::metrics::{Metrics, TimeoutPhase};

/// Sent when the first request's head is late: nothing else was ever written on the
/// connection, so these bytes cannot land inside another response.
const REQUEST_TIMEOUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Counts a connection as open for as long as it lives.
struct OpenConnection(IntGauge);

impl OpenConnection {
    fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An accepted connection with its request clock.
pub struct GuardedStream {
    io: TcpStream,
    clock: Rc<RequestClock>,
    timer: Pin<Box<Sleep>>,
    timer_at: Instant,
    wrote_anything: bool,
    metrics: Metrics,
    _open: OpenConnection,
}

impl GuardedStream {
    /// Wraps a freshly accepted connection of the worker owning `registry`.
    pub fn new(io: TcpStream, limits: TimeLimits, metrics: &Metrics, registry: &Registry) -> Self {
        let clock = registry.clock_for_new_connection(limits);
        let timer_at = clock.watched().unwrap_or_else(Instant::now);
        Self {
            io,
            clock,
            timer: Box::pin(sleep_until(timer_at)),
            timer_at,
            wrote_anything: false,
            metrics: metrics.clone(),
            _open: OpenConnection::new(metrics.connections_open()),
        }
    }

    /// The clock, for the connection's data (and so for the [`super::deadline`] middleware).
    pub fn clock(&self) -> Rc<RequestClock> {
        Rc::clone(&self.clock)
    }

    fn note_write(&mut self, written: &Poll<io::Result<usize>>) {
        self.clock.set_write_pending(written.is_pending());
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
            self.wrote_anything = true;
        }
    }

    /// Whether the watched instant passed or the connection was shed while waiting on its
    /// client; registers the task for either otherwise.
    fn must_close(&mut self, cx: &mut Context<'_>) -> bool {
        self.clock.register(cx.waker());
        let Some(at) = self.clock.watched() else {
            return false;
        };
        if self.clock.is_shed() {
            self.metrics.count_shed_connection();
            return true;
        }
        if at != self.timer_at {
            self.timer.as_mut().reset(at);
            self.timer_at = at;
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.must_close(cx) {
            if let Phase::Head { .. } = this.clock.phase() {
                if !this.clock.is_shed() {
                    this.metrics.count_request_timeout(TimeoutPhase::Head);
                }
                if !this.wrote_anything {
                    // Best effort: the socket's buffer is empty, so this is all sent or nothing.
                    let _ = Pin::new(&mut this.io).poll_write(cx, REQUEST_TIMEOUT_RESPONSE);
                }
            }
            // The error ends the HTTP dispatcher, which drops (and so closes) the connection.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.note_write(&written);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.note_write(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
