//! A TCP proxy in front of an HTTP server that plays, deterministically, the two ways a
//! keep-alive connection loses a request that the client believes it sent:
//!
//! - **Idle close.** Servers close keep-alive connections that sat idle for their keep-alive
//!   timeout (Node 5 s, gunicorn 2 s, Apache 5 s…). A client that picks such a pooled socket
//!   just as the server closes it writes its request into a closed connection and gets a reset.
//!   In the wild that is a race; here any request that arrives on a socket idle for longer
//!   than `idle_close` meets a reset and is never forwarded — the server never sees it.
//! - **Lost answer.** After [`KeepAliveProxy::lose_next_answer`], the next request is forwarded
//!   and processed by the server, and its answer is replaced by a reset: the server did the
//!   work (rotated a refresh token, say) and the client never learns the result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    idle_resets: AtomicUsize,
    lost_answers: AtomicUsize,
    answers_to_lose: AtomicUsize,
}

/// What the proxy did so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub connections: usize,
    /// Requests refused with a reset because their socket had sat idle past `idle_close`.
    pub idle_resets: usize,
    /// Answers the server gave that the client never got.
    pub lost_answers: usize,
}

pub struct KeepAliveProxy {
    pub addr: SocketAddr,
    stats: Arc<Stats>,
}

impl KeepAliveProxy {
    /// Forwards to `upstream`; with `idle_close`, a request on a socket idle longer than that is
    /// reset instead of forwarded.
    pub async fn start(upstream: SocketAddr, idle_close: Option<Duration>) -> KeepAliveProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind keep-alive proxy");
        let addr = listener.local_addr().expect("proxy address");
        let stats = Arc::new(Stats::default());
        let shared = Arc::clone(&stats);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(link(client, upstream, idle_close, Arc::clone(&shared)));
            }
        });
        KeepAliveProxy { addr, stats }
    }

    /// `http://<proxy><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The answer to the next request that arrives (on any socket) never reaches its client.
    pub fn lose_next_answer(&self) {
        self.stats.answers_to_lose.fetch_add(1, Ordering::SeqCst);
    }

    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            connections: self.stats.connections.load(Ordering::SeqCst),
            idle_resets: self.stats.idle_resets.load(Ordering::SeqCst),
            lost_answers: self.stats.lost_answers.load(Ordering::SeqCst),
        }
    }
}

/// Takes one armed loss, if any.
fn take_loss(stats: &Stats) -> bool {
    stats.answers_to_lose.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// What the kernel answers to data on a socket its owner closed: a reset, not a clean end.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn link(mut client: TcpStream, upstream: SocketAddr, idle_close: Option<Duration>, stats: Arc<Stats>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_server = vec![0u8; 16 * 1024];
    // Last time a byte went either way: a socket is idle from the end of an answer on.
    let mut last_traffic = Instant::now();
    let mut losing = false;
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if idle_close.is_some_and(|limit| last_traffic.elapsed() > limit) {
                    stats.idle_resets.fetch_add(1, Ordering::SeqCst);
                    reset(client);
                    return;
                }
                if !losing && take_loss(&stats) {
                    losing = true;
                }
                if server.write_all(&from_client[..n]).await.is_err() {
                    reset(client);
                    return;
                }
                last_traffic = Instant::now();
            }
            read = server.read(&mut from_server) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if losing {
                    stats.lost_answers.fetch_add(1, Ordering::SeqCst);
                    reset(client);
                    return;
                }
                if client.write_all(&from_server[..n]).await.is_err() {
                    return;
                }
                last_traffic = Instant::now();
            }
        }
    }
}
