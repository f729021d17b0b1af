//! A TCP proxy between a broker and PostgreSQL that can black-hole the path, the way a network
//! partition does: nothing is reset or refused, packets just stop arriving. Queries in flight
//! and new connection attempts hang instead of failing fast — the outage `DbProxy::cut` (which
//! resets every socket) does not show.

use std::sync::Arc;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use url::Url;

pub struct PartitionProxy {
    /// The database URL to give the broker: same database, through the proxy.
    pub url: String,
    partitioned: Arc<watch::Sender<bool>>,
}

impl PartitionProxy {
    pub async fn start(database_url: &str) -> PartitionProxy {
        let mut url = Url::parse(database_url).expect("database URL");
        let target = format!("{}:{}", url.host_str().expect("database host"), url.port().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind partition proxy");
        let port = listener.local_addr().expect("proxy address").port();
        url.set_host(Some("127.0.0.1")).expect("set host");
        url.set_port(Some(port)).expect("set port");
        let partitioned = Arc::new(watch::Sender::new(false));
        let state = Arc::clone(&partitioned);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(link(inbound, target.clone(), state.subscribe()));
            }
        });
        PartitionProxy { url: url.to_string(), partitioned }
    }

    /// From now on nothing gets through, in either direction; sockets stay open.
    pub fn partition(&self) {
        self.partitioned.send_replace(true);
    }

    /// New connections get through again. Links that were black-holed stay dead, as TCP
    /// connections across a real partition usually do; the pool has to replace them.
    pub fn heal(&self) {
        self.partitioned.send_replace(false);
    }
}

/// Forwards until the partition; then holds both sockets open and silent for the rest of the
/// test. A connection accepted during the partition waits for it to heal.
async fn link(mut inbound: TcpStream, target: String, mut partitioned: watch::Receiver<bool>) {
    let blocked = *partitioned.borrow_and_update();
    if blocked && partitioned.wait_for(|p| !p).await.map(|_| ()).is_err() {
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(&target).await else {
        let _ = inbound.shutdown().await;
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = async { partitioned.wait_for(|p| *p).await.map(|_| ()) } => {
            // Black hole: keep both ends open, read nothing, answer nothing.
            std::future::pending::<()>().await;
        }
    }
}
