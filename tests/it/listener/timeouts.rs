//! Idle keep-alive connections and slow request headers are closed after their timeouts, so
//! clients that hold connections without using them cannot exhaust the broker.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::raw;
use crate::harness::spawn_app_with;

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|env| env.extra.push(("TOKENBROKER_IDLE_TIMEOUT_MS".into(), "700".into()))).await;
    let mut conn = raw::connect(&app.broker(0).addr).await;
    raw::healthz(&mut conn).await;

    let closed = raw::closed_within(&mut conn, Duration::from_secs(10)).await;
    let after = closed.expect("the idle keep-alive connection was still open 10 s later (idle timeout 700 ms)");
    assert!(after >= Duration::from_millis(500), "closed after {after:?}: before the 700 ms idle timeout");
}

#[tokio::test]
async fn a_connection_that_never_sends_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|env| env.extra.push(("TOKENBROKER_IDLE_TIMEOUT_MS".into(), "700".into()))).await;
    let mut conn = raw::connect(&app.broker(0).addr).await;
    let closed = raw::closed_within(&mut conn, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "a connection that sent nothing was still open 10 s later (idle timeout 700 ms)");
}

#[tokio::test]
async fn headers_sent_slowly_are_cut_off_by_the_header_read_timeout() {
    let app = spawn_app_with(|env| {
        env.extra.push(("TOKENBROKER_HEADER_READ_TIMEOUT_MS".into(), "800".into()));
        // Long, so only the header-read timeout can close this connection while bytes trickle in.
        env.extra.push(("TOKENBROKER_IDLE_TIMEOUT_MS".into(), "30000".into()));
    })
    .await;
    let mut conn = raw::connect(&app.broker(0).addr).await;
    // Slowloris: a byte every 100 ms, the headers never finished.
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: broker\r\nX-Slow: ".iter().chain([b'a'; 200].iter()) {
        if conn.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        if raw::closed_within(&mut conn, Duration::from_millis(100)).await.is_some() {
            closed = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "slow headers still accepted after 10 s");
    }
    assert!(closed, "the broker kept reading headers sent a byte at a time");
    let after = started.elapsed();
    assert!(after >= Duration::from_millis(600), "closed after {after:?}: before the 800 ms header-read timeout");
    assert!(after < Duration::from_secs(5), "closed only after {after:?} (header-read timeout 800 ms)");
}

#[tokio::test]
async fn a_request_slower_than_the_timeouts_is_not_cut_off() {
    // A token request waiting on a slow vendor is with the application, not idle: only the
    // request timeout bounds it.
    let app = spawn_app_with(|env| {
        env.extra.push(("TOKENBROKER_IDLE_TIMEOUT_MS".into(), "300".into()));
        env.extra.push(("TOKENBROKER_HEADER_READ_TIMEOUT_MS".into(), "300".into()));
    })
    .await;
    let qubs = crate::fakes::FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-slow")).await;
    qubs.set_delay(Duration::from_millis(1000));
    let body = app.admin.token("qubs-slow").await;
    assert_eq!(body["access_token"], qubs.current_token().as_str());
}
