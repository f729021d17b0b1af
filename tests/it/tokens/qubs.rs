//! A qubs token answer, exactly: bearer plus `Accept: application/json`, as QUBS's docs say.

use serde_json::json;

use crate::fakes::FakeQubs;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};
use crate::harness::{app_with_qubs, spawn_app};

#[tokio::test]
async fn qubs_token_answer_matches_the_contract() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let resp = svc.token_resp("qubs-main", None).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let token = qubs.current_token();
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "qubs-main",
            access_token: &token,
            lifetime: 3600,
            headers: bearer_headers(&token, &[("Accept", "application/json")]),
            api_base_url: None,
        },
    );
    assert_eq!(qubs.calls(), 1);
    assert_eq!(qubs.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn api_base_url_is_handed_out_when_configured() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-main");
    body["config"]["api_base_url"] = json!("https://acme.qubs.example/integrations/v1");
    app.admin.create_connection(&body).await;
    let resp = app.admin.token_resp("qubs-main", None).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let token = qubs.current_token();
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "qubs-main",
            access_token: &token,
            lifetime: 3600,
            headers: bearer_headers(&token, &[("Accept", "application/json")]),
            api_base_url: Some("https://acme.qubs.example/integrations/v1"),
        },
    );
}
