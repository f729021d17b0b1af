//! A TCP proxy between a broker and PostgreSQL that a test can cut and restore: the database
//! becoming unreachable the way it does in production (network gone, sockets reset), without
//! touching the data. It can also slow the link down: every byte is delivered a set time
//! after it was sent, in both directions, the way a distant or congested database answers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use url::Url;

pub struct DbProxy {
    /// The database URL to give the broker: same database, through the proxy.
    pub url: String,
    cut: Arc<AtomicBool>,
    /// Added to every byte's trip, each way, in milliseconds.
    latency_ms: Arc<AtomicU64>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl DbProxy {
    pub async fn start(database_url: &str) -> DbProxy {
        let mut url = Url::parse(database_url).expect("database URL");
        let target = format!("{}:{}", url.host_str().expect("database host"), url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind database proxy");
        let addr: SocketAddr = listener.local_addr().expect("proxy address");
        url.set_host(Some("127.0.0.1")).expect("set host");
        url.set_port(Some(addr.port())).expect("set port");

        let cut = Arc::new(AtomicBool::new(false));
        let latency_ms = Arc::new(AtomicU64::new(0));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (cut_flag, latency, link_list) = (Arc::clone(&cut), Arc::clone(&latency_ms), Arc::clone(&links));
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if cut_flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let (target, latency) = (target.clone(), Arc::clone(&latency));
                let link = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&target).await {
                        let (from_broker, to_broker) = inbound.into_split();
                        let (from_db, to_db) = outbound.into_split();
                        tokio::join!(
                            forward(from_broker, to_db, Arc::clone(&latency)),
                            forward(from_db, to_broker, latency)
                        );
                    }
                });
                link_list.lock().unwrap().push(link.abort_handle());
            }
        });
        DbProxy { url: url.to_string(), cut, latency_ms, links }
    }

    /// Refuses new connections and drops every open one.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// From now on every byte arrives `latency` after it was sent, each way (so a query's
    /// round trip takes at least twice that). `Duration::ZERO` restores the plain link.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(u64::try_from(latency.as_millis()).expect("latency in ms"), Ordering::SeqCst);
    }
}

/// Copies one direction, delivering each chunk `latency` after it was read (chunks stay in
/// order; a slow link is not a narrow one, so reading goes on meanwhile).
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, latency_ms: Arc<AtomicU64>) {
    let (send, mut chunks) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            let due = Instant::now() + Duration::from_millis(latency_ms.load(Ordering::SeqCst));
            if send.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let write = async move {
        while let Some((due, chunk)) = chunks.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
