//! One client connection from accept to close.
//!
//! A connection alternates between two states. *Parked*: no HTTP state at all, only the
//! socket, waiting (without a buffer) for the client's next request, for at most the idle
//! timeout. *Serving*: a hyper HTTP/1 connection with its read and write buffers (16 KiB)
//! and per-connection state. Once hyper has sat idle for `PARK_AFTER` after an exchange, the
//! socket is taken back from it and those buffers are freed, so thousands of idle keep-alive
//! connections cost little more than their sockets.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;

use super::activity::{Activity, Expired, Next, Timeouts};
use super::io::{ConnIo, Stream};
use super::service::AppService;
use super::tls::Tls;

/// What every connection shares.
pub(super) struct Shared {
    pub router: Router,
    pub http: http1::Builder,
    pub timeouts: Timeouts,
    pub tls: Option<Arc<Tls>>,
}

/// How long closing politely (TLS close_notify, FIN) may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) async fn run(
    tcp: TcpStream,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let _open = OpenConnection::count(permit);
    // Unknown only if the peer is already gone; then nothing it sends will be served anyway.
    let peer = tcp.peer_addr().unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    // Answers are small and complete: send them at once rather than wait for more.
    let _ = tcp.set_nodelay(true);
    let mut stop = stop;
    let stream = match &shared.tls {
        None => Stream::Plain(tcp),
        // Boxed, like `serve` below: the task's own allocation is sized for its largest state,
        // and a parked connection should not carry room for a TLS handshake or hyper inline.
        Some(tls) => match Box::pin(handshake(tls, tcp, shared.timeouts.header_read, &mut stop)).await {
            Some(stream) => stream,
            None => return,
        },
    };
    let activity = Arc::new(Activity::new());
    let mut stream = stream;
    // Bytes already read from the stream for hyper's next request (a TLS probe, or what
    // hyper had read ahead), and whether the stream must be waited on first.
    let mut first = Bytes::new();
    let mut parked = true;
    loop {
        if parked {
            match park(&mut stream, &activity, &shared.timeouts, &mut stop).await {
                Some(read) => first = read,
                None => return close(stream).await,
            }
        }
        match Box::pin(serve(stream, first, peer, &shared, &activity, &mut stop)).await {
            Served::Parked(back, rest) => {
                stream = back;
                // A partly received request goes straight back to hyper.
                parked = rest.is_empty();
                first = rest;
            }
            Served::Closed => return,
        }
    }
}

async fn handshake(tls: &Tls, tcp: TcpStream, limit: Duration, stop: &mut watch::Receiver<bool>) -> Option<Stream> {
    let accept = tokio::time::timeout(limit, tls.acceptor().accept(tcp));
    tokio::select! {
        done = accept => match done {
            Ok(Ok(stream)) => Some(Stream::Tls(Box::new(stream))),
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "TLS handshake failed");
                metrics::counter!("tokenbroker_http_connections_closed_total", "reason" => "tls_handshake_failed").increment(1);
                None
            }
            Err(_) => {
                metrics::counter!("tokenbroker_http_connections_closed_total", "reason" => "header_read_timeout").increment(1);
                None
            }
        },
        _ = stopped(stop) => None,
    }
}

/// Waits for the next request without holding HTTP state. `None`: close (the client left,
/// the idle timeout passed, or the server is stopping).
async fn park(
    stream: &mut Stream,
    activity: &Activity,
    timeouts: &Timeouts,
    stop: &mut watch::Receiver<bool>,
) -> Option<Bytes> {
    tokio::select! {
        biased;
        _ = stopped(stop) => None,
        () = tokio::time::sleep_until(activity.idle_end(timeouts)) => {
            metrics::counter!("tokenbroker_http_connections_closed_total", "reason" => Expired::Idle.label()).increment(1);
            None
        }
        first = stream.wait_for_request() => match first {
            Ok(Some(first)) => {
                activity.on_read(first.len().max(1));
                Some(first)
            }
            Ok(None) | Err(_) => None,
        },
    }
}

enum Served {
    /// hyper went idle and gave the socket back, with any bytes it had read ahead.
    Parked(Stream, Bytes),
    Closed,
}

async fn serve(
    stream: Stream,
    first: Bytes,
    peer: std::net::SocketAddr,
    shared: &Shared,
    activity: &Arc<Activity>,
    stop: &mut watch::Receiver<bool>,
) -> Served {
    let io = TokioIo::new(ConnIo::new(stream, first, activity.clone()));
    let service = AppService::new(shared.router.clone(), activity.clone(), peer);
    let mut conn = shared.http.serve_connection(io, service);
    let mut stopping = *stop.borrow();
    let mut parking = false;
    if stopping {
        Pin::new(&mut conn).graceful_shutdown();
    }
    let changed = stopped(stop);
    tokio::pin!(changed);
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);

    let outcome = poll_fn(|cx| {
        loop {
            if let Poll::Ready(done) = conn.poll_without_shutdown(cx) {
                return Poll::Ready(done.map_err(Ended::Http));
            }
            if !stopping && changed.as_mut().poll(cx).is_ready() {
                // The request in progress (if any) is answered, with `Connection: close`
                // unless its head is out already; then the connection ends.
                stopping = true;
                Pin::new(&mut conn).graceful_shutdown();
                continue;
            }
            if parking {
                return Poll::Pending;
            }
            // While stopping, the timeouts still apply: a slow client must not hold up the exit.
            let next = activity.next(&shared.timeouts);
            let at = match next {
                Next::Wait => return Poll::Pending,
                Next::Park(_) if stopping => return Poll::Pending,
                Next::Park(at) | Next::Close(at, _) => at,
            };
            // Re-arming costs a lock on the timer wheel, and a busy connection moves its
            // deadline with every request: only bring the timer forward here, and when it
            // fires for a deadline that has since moved later, re-arm it then.
            if at < timer.deadline() {
                timer.as_mut().reset(at);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() < at {
                timer.as_mut().reset(at);
                continue;
            }
            match next {
                Next::Park(_) => {
                    // hyper is waiting for a request head with nothing buffered: it closes
                    // at once, and the socket comes back untouched.
                    parking = true;
                    Pin::new(&mut conn).graceful_shutdown();
                }
                Next::Close(_, why) => return Poll::Ready(Err(Ended::Expired(why))),
                Next::Wait => return Poll::Pending,
            }
        }
    })
    .await;

    match outcome {
        Ok(()) => {
            let parts = conn.into_parts();
            let (stream, rest) = parts.io.into_inner().into_parts(parts.read_buf);
            if parking && !stopping {
                Served::Parked(stream, rest)
            } else {
                // The client asked to close, hyper decided to, or the server is stopping.
                close(stream).await;
                Served::Closed
            }
        }
        Err(Ended::Expired(why)) => {
            metrics::counter!("tokenbroker_http_connections_closed_total", "reason" => why.label()).increment(1);
            Served::Closed
        }
        Err(Ended::Http(err)) => {
            tracing::debug!(error = %err, "connection ended with an HTTP error");
            Served::Closed
        }
    }
}

enum Ended {
    Expired(Expired),
    Http(hyper::Error),
}

/// Resolves once the server is stopping (or its stop signal is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Ends the connection politely (TLS close_notify, then FIN), within `CLOSE_TIMEOUT`.
async fn close(mut stream: Stream) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
}

/// Holds a slot of the connection limit and keeps the open-connections gauge, for as long as
/// the connection lives.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
}

impl OpenConnection {
    fn count(slot: OwnedSemaphorePermit) -> OpenConnection {
        metrics::gauge!("tokenbroker_http_connections_open").increment(1.0);
        OpenConnection { _slot: slot }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("tokenbroker_http_connections_open").decrement(1.0);
    }
}
