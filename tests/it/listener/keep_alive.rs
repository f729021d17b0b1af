//! A keep-alive connection that has been quiet long enough to give its HTTP buffers back
//! (about a second) still serves the next request, pipelined requests included.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::raw;
use crate::harness::spawn_app;

const QUIET: Duration = Duration::from_millis(1600);

#[tokio::test]
async fn a_quiet_keep_alive_connection_serves_the_next_requests() {
    let app = spawn_app().await;
    let mut conn = raw::connect(&app.broker(0).addr).await;
    raw::healthz(&mut conn).await;
    for _ in 0..3 {
        tokio::time::sleep(QUIET).await;
        raw::healthz(&mut conn).await;
    }
}

#[tokio::test]
async fn pipelined_requests_are_all_answered_in_order() {
    let app = spawn_app().await;
    let mut conn = raw::connect(&app.broker(0).addr).await;
    raw::healthz(&mut conn).await;
    tokio::time::sleep(QUIET).await;
    // Two requests in one write, and the head of a third split across a quiet pause.
    let two = [raw::HEALTHZ, b"GET /readyz HTTP/1.1\r\nHost: broker\r\n\r\n"].concat();
    conn.write_all(&two).await.unwrap();
    let first = raw::read_response(&mut conn, Duration::from_secs(10)).await.expect("first pipelined answer");
    let second = raw::read_response(&mut conn, Duration::from_secs(10)).await.expect("second pipelined answer");
    assert!(first.starts_with("HTTP/1.1 200") && first.contains("\"ok\""), "{first}");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
    tokio::time::sleep(QUIET).await;
    conn.write_all(b"st: broker\r\n\r\n").await.unwrap();
    let third = raw::read_response(&mut conn, Duration::from_secs(10)).await.expect("answer to the split request");
    assert!(third.starts_with("HTTP/1.1 200"), "{third}");
}

#[tokio::test]
async fn a_request_with_a_body_then_a_quiet_pause_then_another() {
    let app = spawn_app().await;
    let mut conn = raw::connect(&app.broker(0).addr).await;
    let body = json!({"id": "svc-parked", "role": "service"}).to_string();
    let post = format!(
        "POST /v1/principals HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.env.admin_key(),
        body.len()
    );
    conn.write_all(post.as_bytes()).await.unwrap();
    let created = raw::read_response(&mut conn, Duration::from_secs(10)).await.expect("answer to the POST");
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    tokio::time::sleep(QUIET).await;
    raw::healthz(&mut conn).await;
}
