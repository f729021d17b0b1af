//! The broker's own accept loop, in place of `axum::serve`: HTTP/1.1 over plain TCP or TLS
//! (certificates re-read when their files change, optional client certificates), a bound on
//! open connections, idle and header-read timeouts, and idle connections that hold no HTTP
//! buffers. On shutdown it stops accepting, lets requests in flight finish, and returns once
//! every connection has closed.

mod activity;
mod connection;
mod io;
mod service;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::ListenerArgs;
use activity::Timeouts;
use connection::Shared;
use tls::Tls;

/// At the connection limit, say so at most this often.
const LIMIT_WARNING_EVERY: Duration = Duration::from_secs(60);

pub struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
    max_connections: usize,
    timeouts: Timeouts,
    tls: Option<(Arc<Tls>, [u8; 32])>,
}

impl Listener {
    /// Checks the settings, loads the TLS files, binds, and logs `listening` with the address.
    pub async fn bind(addr: SocketAddr, args: &ListenerArgs) -> anyhow::Result<Listener> {
        if args.max_connections == 0 || args.max_connections > 1_000_000 {
            bail!("TOKENBROKER_MAX_CONNECTIONS must be between 1 and 1000000");
        }
        if args.idle_timeout_ms == 0 || args.header_read_timeout_ms == 0 {
            bail!("TOKENBROKER_IDLE_TIMEOUT_MS and TOKENBROKER_HEADER_READ_TIMEOUT_MS must be positive");
        }
        let timeouts = Timeouts {
            idle: Duration::from_millis(args.idle_timeout_ms),
            header_read: Duration::from_millis(args.header_read_timeout_ms),
        };
        let tls = Tls::load(args)?;
        let tcp = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let addr = tcp.local_addr()?;
        match &tls {
            Some((tls, _)) => {
                tracing::info!(addr = %addr, tls = true, client_certificates = tls.requires_client_certificates(), "listening");
            }
            None => {
                tracing::info!(addr = %addr, tls = false, "listening");
                if !addr.ip().is_loopback() {
                    tracing::warn!(
                        addr = %addr,
                        "serving plain HTTP on a non-loopback address: API keys and tokens cross the network \
                         unencrypted unless a mesh or ingress terminates TLS in front of the broker; \
                         set TOKENBROKER_TLS_CERT_FILE and TOKENBROKER_TLS_KEY_FILE to serve HTTPS"
                    );
                }
            }
        }
        warn_if_few_files(args.max_connections);
        Ok(Listener { tcp, addr, max_connections: args.max_connections, timeouts, tls })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `app` until `shutdown` resolves, then drains (see the module comment).
    pub async fn serve(self, app: Router, shutdown: impl Future<Output = ()>) {
        let mut http = http1::Builder::new();
        // Timeouts are the connection's own (`activity`): hyper's header timer would also
        // count the idle time between requests.
        http.header_read_timeout(None);
        let reloader = self.tls.as_ref().map(|(tls, loaded)| tokio::spawn(tls.clone().watch(*loaded)));
        let shared = Arc::new(Shared { router: app, http, timeouts: self.timeouts, tls: self.tls.map(|(tls, _)| tls) });
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let (stop, stopped) = watch::channel(false);
        let mut warned_at: Option<std::time::Instant> = None;
        tokio::pin!(shutdown);
        loop {
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    // Over the limit a new connection waits in the listen backlog (the kernel
                    // holds it) until one closes, rather than being refused: see decisions.md.
                    metrics::counter!("tokenbroker_http_connection_limit_reached_total").increment(1);
                    if warned_at.is_none_or(|at| at.elapsed() > LIMIT_WARNING_EVERY) {
                        warned_at = Some(std::time::Instant::now());
                        tracing::warn!(
                            max = self.max_connections,
                            "connection limit reached; new connections wait for a free slot"
                        );
                    }
                    tokio::select! {
                        slot = slots.clone().acquire_owned() => match slot {
                            Ok(slot) => slot,
                            Err(_) => break,
                        },
                        () = &mut shutdown => break,
                    }
                }
            };
            let accepted = tokio::select! {
                accepted = self.tcp.accept() => accepted,
                () = &mut shutdown => break,
            };
            match accepted {
                Ok((tcp, _peer)) => {
                    tokio::spawn(connection::run(tcp, shared.clone(), stopped.clone(), slot));
                }
                Err(err) => accept_failed(&err).await,
            }
        }
        // Closing the listening socket refuses new connections from here on.
        drop(self.tcp);
        let _ = stop.send(true);
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        // Every connection holds a slot until it has closed.
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
    }
}

/// Per-connection errors (the client reset before accept) are normal; running out of file
/// descriptors is not, and retrying at once would spin.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(err.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed (out of file descriptors? see TOKENBROKER_MAX_CONNECTIONS and `ulimit -n`)");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Each connection is a file descriptor: say so at start if the process may not open enough.
fn warn_if_few_files(max_connections: usize) {
    let Some(limit) = open_files_limit() else { return };
    // Database connections, the listener, logs: a margin for what is not a client.
    let needed = max_connections as u64 + 64;
    if limit < needed {
        tracing::warn!(
            open_files_limit = limit,
            max_connections,
            "the open-files limit is below TOKENBROKER_MAX_CONNECTIONS + 64: raise it (ulimit -n, LimitNOFILE=, \
             docker --ulimit nofile=) or lower TOKENBROKER_MAX_CONNECTIONS"
        );
    }
}

/// The soft `RLIMIT_NOFILE`, read from /proc (Linux) so no unsafe call is needed.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
