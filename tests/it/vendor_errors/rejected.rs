//! The vendor refuses the credentials: 502 `vendor_rejected`, the vendor's error code in
//! `detail`, no retry storm, and never the vendor's description (it may echo the secret).

use serde_json::json;

use super::{assert_last_error, wait_as_advised};
use crate::fakes::{FakeOAuth2, Fault, OAuth2Options};
use crate::harness::{app_with_qubs, assert_problem, random, spawn_app};

#[tokio::test]
async fn vendor_401_is_502_vendor_rejected_with_the_error_code() {
    let app = spawn_app().await;
    let fake = FakeOAuth2::start(OAuth2Options::default()).await;
    app.admin.create_connection(&fake.connection("generic")).await;
    fake.set_fault(Fault::Reject);

    let resp = app.admin.token_resp("generic", None).await;
    let problem = assert_problem(&resp, 502, "vendor_rejected");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("invalid_client"), "detail should carry the vendor's code: {problem}");
    assert!(
        !resp.body.contains(&fake.client_secret()) && !resp.body.contains("Secret received"),
        "the answer repeats the vendor's description, which echoes the secret: {}",
        resp.body
    );
    assert_eq!(fake.calls(), 1, "refused credentials must not be retried");

    let last_error = assert_last_error(&app, "generic", "vendor_rejected").await;
    assert!(last_error["detail"].as_str().unwrap_or_default().contains("invalid_client"), "{last_error}");
    assert!(!last_error.to_string().contains(&fake.client_secret()));
    app.healthz(0).await;

    fake.set_fault(Fault::None);
    wait_as_advised(&resp).await;
    assert_eq!(app.admin.access_token("generic").await, fake.current_token());
}

#[tokio::test]
async fn secret_rotated_at_the_vendor_is_rejected_until_new_secrets_are_put() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let rotated = random::secret("qubs-rotated");
    qubs.set_client_secret(&rotated);

    let resp = app.admin.token_resp("qubs-main", None).await;
    assert_problem(&resp, 502, "vendor_rejected");
    assert_eq!(qubs.calls(), 1, "refused credentials must not be retried");
    assert_last_error(&app, "qubs-main", "vendor_rejected").await;
    app.healthz(0).await;

    app.admin.put_secrets("qubs-main", &json!({"client_secret": rotated})).await;
    assert_eq!(app.admin.access_token("qubs-main").await, qubs.current_token());
}
