//! A TCP proxy between a broker and PostgreSQL that a test can cut and restore: the database
//! becoming unreachable the way it does in production (network gone, sockets reset), without
//! touching the data.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use url::Url;

pub struct DbProxy {
    /// The database URL to give the broker: same database, through the proxy.
    pub url: String,
    cut: Arc<AtomicBool>,
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
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (cut_flag, link_list) = (Arc::clone(&cut), Arc::clone(&links));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut_flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                link_list.lock().unwrap().push(link.abort_handle());
            }
        });
        DbProxy { url: url.to_string(), cut, links }
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
}
