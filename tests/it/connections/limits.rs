//! Bodies over 64 KiB are refused before anything is parsed or stored.

use reqwest::Method;
use serde_json::json;

use crate::fakes::FakeQubs;
use crate::harness::client::{Resp, TestClient};
use crate::harness::{app_with_qubs, assert_problem, spawn_app};

const OVER_LIMIT: usize = 70 * 1024;

/// Callers keep their connection after an error. After a 413 the server must either read past
/// the unread body or answer `Connection: close`; otherwise the caller's next request on that
/// connection fails (`IncompleteMessage`), at random.
async fn next_request_works(client: &TestClient, refused: &Resp, path: &str) -> Resp {
    client.raw(Method::GET, path).try_send().await.unwrap_or_else(|e| {
        panic!(
            "the request after a 413 failed on the kept-alive connection; the 413 lacked \
             `Connection: close` (headers: {:?}): {e}",
            refused.headers
        )
    })
}

#[tokio::test]
async fn create_over_64_kib_is_413() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-big");
    body["description"] = json!("x".repeat(OVER_LIMIT));
    let resp = app.admin.raw(Method::POST, "/v1/connections").json(&body).send().await;
    assert_problem(&resp, 413, "payload_too_large");
    next_request_works(&app.admin, &resp, "/v1/connections/qubs-big").await.expect(404);
}

#[tokio::test]
async fn secrets_over_64_kib_are_413() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let resp = app
        .admin
        .raw(Method::PUT, "/v1/connections/qubs-main/secrets")
        .json(&json!({"secrets": {"client_secret": "s".repeat(OVER_LIMIT)}}))
        .send()
        .await;
    assert_problem(&resp, 413, "payload_too_large");
    // The stored secret is untouched: tokens still come with the original one.
    next_request_works(&app.admin, &resp, "/v1/connections/qubs-main/token").await.expect(200);
    assert_eq!(qubs.wrong_credential_calls(), 0);
}
