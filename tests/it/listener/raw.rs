//! HTTP/1.1 spoken by hand over one TCP connection, to see exactly when the broker closes it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n";

pub async fn connect(addr: &str) -> TcpStream {
    TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// Reads one response (head and `Content-Length` body); `None` if the connection closed (or
/// nothing came) before it was complete.
pub async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .map_or(0, |v| v.parse::<usize>().unwrap());
            if got.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&got[..end + 4 + length]).into_owned());
            }
        }
        let mut buf = [0u8; 4096];
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `GET /healthz` and expects a 200 on this connection.
pub async fn healthz(stream: &mut TcpStream) {
    stream.write_all(HEALTHZ).await.unwrap();
    let response = read_response(stream, Duration::from_secs(10)).await.expect("no answer to GET /healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// Waits up to `within` for the broker to close the connection (EOF or reset); how long it
/// took, or `None` if it is still open. Anything the broker sends meanwhile is ignored.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let deadline = started + within;
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}
