//! Vendor 5xx, 429, timeouts and refused connections: 503 `vendor_unavailable` with
//! `Retry-After`; after waiting that long, with the fault gone, tokens flow again.

use std::time::{Duration, Instant};

use super::{assert_last_error, retry_after, wait_as_advised};
use crate::fakes::{FakeQubs, Fault};
use crate::harness::{TestApp, app_with_qubs, assert_problem, spawn_app};

async fn unavailable_then_recovers(fault: Fault) -> (TestApp, FakeQubs, Duration) {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    qubs.set_fault(fault.clone());
    let resp = app.admin.token_resp("qubs-main", None).await;
    assert_problem(&resp, 503, "vendor_unavailable");
    let wait = retry_after(&resp);
    assert_last_error(&app, "qubs-main", "vendor_unavailable").await;
    app.healthz(0).await;

    qubs.set_fault(Fault::None);
    wait_as_advised(&resp).await;
    assert_eq!(
        app.admin.access_token("qubs-main").await,
        qubs.current_token(),
        "{fault:?}: no token once the fault cleared"
    );
    (app, qubs, wait)
}

#[tokio::test]
async fn vendor_500_is_503_vendor_unavailable() {
    unavailable_then_recovers(Fault::ServerError(500)).await;
}

#[tokio::test]
async fn vendor_503_is_503_vendor_unavailable() {
    unavailable_then_recovers(Fault::ServerError(503)).await;
}

#[tokio::test]
async fn vendor_429_is_503_honouring_its_retry_after() {
    let (_app, _qubs, wait) = unavailable_then_recovers(Fault::TooManyRequests { retry_after: 7 }).await;
    // The vendor asked for 7 s; telling callers to come back much sooner would not honour it.
    assert!(wait >= Duration::from_secs(5), "vendor said Retry-After: 7, broker said {wait:?}");
}

#[tokio::test]
async fn vendor_hanging_past_the_timeout_is_503_vendor_unavailable() {
    unavailable_then_recovers(Fault::Hang).await;
}

#[tokio::test]
async fn hang_is_cut_by_the_vendor_timeout() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    qubs.set_fault(Fault::Hang);
    let started = Instant::now();
    let resp = app.admin.token_resp("qubs-main", None).await;
    let took = started.elapsed();
    assert_problem(&resp, 503, "vendor_unavailable");
    assert!(
        took >= Duration::from_millis(1400),
        "answered after {took:?}: the broker did not wait for the 1.5 s vendor timeout"
    );
    assert!(took < Duration::from_secs(20), "answered after {took:?} with a 1.5 s vendor timeout");
}

#[tokio::test]
async fn refused_connection_is_503_vendor_unavailable() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut body = qubs.connection("qubs-main");
    body["config"]["token_url"] = format!("http://{closed}/oauth2/token").into();
    app.admin.create_connection(&body).await;

    let resp = app.admin.token_resp("qubs-main", None).await;
    assert_problem(&resp, 503, "vendor_unavailable");
    retry_after(&resp);
    let last_error = assert_last_error(&app, "qubs-main", "vendor_unavailable").await;
    app.healthz(0).await;
    // What to act on: where the broker went and what happened, in the answer and the view.
    let endpoint = format!("http://{closed}/oauth2/token");
    for detail in [resp.json()["detail"].clone(), last_error["detail"].clone()] {
        let detail = detail.as_str().unwrap_or_default().to_owned();
        assert!(detail.contains(&endpoint) && detail.contains("connection refused"), "{detail}");
    }
    // One failure, one log event (at WARN), naming the same endpoint and cause.
    let events: Vec<String> = app
        .log_lines()
        .into_iter()
        .filter_map(|l| l.json())
        .filter(|j| matches!(j["level"].as_str(), Some("WARN" | "ERROR")))
        .map(|j| j.to_string())
        .collect();
    assert_eq!(events.len(), 1, "one vendor failure should be one WARN/ERROR line: {events:#?}");
    assert!(events[0].contains(&endpoint) && events[0].contains("connection refused"), "{}", events[0]);
}

#[tokio::test]
async fn an_unknown_host_is_named_with_its_cause() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-main");
    // `.invalid` never resolves (RFC 6761); the query string is never repeated.
    body["config"]["token_url"] = "http://vendor.invalid/oauth2/token?tenant=acme".into();
    app.admin.create_connection(&body).await;
    let resp = app.admin.token_resp("qubs-main", None).await;
    assert_problem(&resp, 503, "vendor_unavailable");
    let detail = resp.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("http://vendor.invalid/oauth2/token") && detail.contains("DNS"), "{detail}");
    assert!(!detail.contains("tenant=acme"), "{detail}");
}
