//! The HTTP listener: serves HTTP/1.1 on at most `server.max_connections` connections at
//! once, closes a connection whose client stalls halfway through a request head or sends
//! nothing for too long, and lets in-flight requests finish on shutdown.
//!
//! hyper's own header-read timer starts as soon as a connection waits for its next request,
//! so it cannot tell a slow client from an idle keep-alive one; each connection here keeps
//! its own clock instead ([`Activity`]), and both limits are settings of their own. HTTP/1.1
//! only: one request at a time per connection is what makes the connection cap a bound on
//! concurrent requests (HTTP/2 would multiplex hundreds on one), and what lets the clock
//! read every byte that arrives between requests as the start of the next one.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::Request, response::Response};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::Service;

use crate::config::ServerSettings;

/// How connections are bounded.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The limits `settings` configure.
    pub fn from_settings(settings: &ServerSettings) -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
            max_connections: settings.max_connections,
        }
    }

    /// How often a connection looks at its clock: often enough to close it within about a
    /// quarter of the shorter limit past it.
    fn check_every(&self) -> Duration {
        (self.header_read_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then waits for every
/// connection to finish its requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it was taken: the
                // listener itself is fine, so pause rather than spin.
                Err(error) => {
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(
            stream,
            router.clone(),
            limits,
            shutdown.clone(),
            permit,
        ));
    }
    // New clients are refused at once rather than left in the backlog until exit.
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Serves one connection until it ends, stalls past a limit, or drains after `shutdown`.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = Busy::begin(&activity);
            let mut router = router.clone();
            async move {
                let response: Response = router.call(request).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|inner| BusyBody { inner, _busy: busy }),
                )
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut clock = tokio::time::interval(limits.check_every());
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(error = %error, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = clock.tick() => {
                if let Some(why) = activity.stalled(limits) {
                    tracing::debug!(reason = why, "closing a stalled connection");
                    return;
                }
            }
        }
    }
}

/// What a connection has been doing, as the clock sees it (milliseconds since `start`).
struct Activity {
    start: Instant,
    requests_in_flight: AtomicUsize,
    /// When the last request finished (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte of the next request head arrived; [`NONE`] while none has.
    head_started: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            requests_in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Bytes arrived: with no request in flight, they begin the next request's head.
    fn bytes_read(&self) {
        if self.requests_in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_started.compare_exchange(
                NONE,
                self.now(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// Why the connection should be closed now, if it should.
    fn stalled(&self, limits: Limits) -> Option<&'static str> {
        if self.requests_in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now();
        let past =
            |since: u64, limit: Duration| now.saturating_sub(since) > limit.as_millis() as u64;
        match self.head_started.load(Ordering::Acquire) {
            NONE if past(self.idle_since.load(Ordering::Acquire), limits.idle_timeout) => {
                Some("idle timeout")
            }
            NONE => None,
            started if past(started, limits.header_read_timeout) => Some("header read timeout"),
            _ => None,
        }
    }
}

/// A request in flight on a connection, from its head parsed to its response's last byte
/// handed to the socket (it rides in [`BusyBody`]).
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.requests_in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_started.store(NONE, Ordering::Release);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        activity.requests_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request [`Busy`] until hyper is done with it, so a slow
/// reader of a long response is never taken for an idle connection.
struct BusyBody {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's socket, telling [`Activity`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(600),
            max_connections: 1,
        }
    }

    #[test]
    fn a_half_sent_head_stalls_sooner_than_an_idle_connection() {
        let activity = Activity::new();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.stalled(limits()), None, "idle, within its limit");
        activity.bytes_read();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(activity.stalled(limits()), Some("header read timeout"));
    }

    #[test]
    fn a_request_in_flight_never_stalls_and_its_end_restarts_the_idle_clock() {
        let activity = Arc::new(Activity::new());
        activity.bytes_read();
        let busy = Busy::begin(&activity);
        std::thread::sleep(Duration::from_millis(650));
        assert_eq!(activity.stalled(limits()), None);
        drop(busy);
        assert_eq!(activity.stalled(limits()), None, "the idle clock restarted");
        std::thread::sleep(Duration::from_millis(650));
        assert_eq!(activity.stalled(limits()), Some("idle timeout"));
    }
}
