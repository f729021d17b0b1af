//! QBench (`qbench`): a self-signed HS256 assertion first, then QBench's own refresh step
//! (`refresh_token_id` plus the `jid` cookie). Its refresh tokens are single-use and a reused
//! one revokes the whole chain, so the broker must always present the latest, and fall back to
//! a new assertion when the chain is gone.

use chrono::Utc;
use serde_json::json;

use super::{SHORT_LIFETIME, assert_rejected, assert_required_and_unknown_fields, past_half_life, served, spawn};
use crate::fakes::qbench::FakeQbench;
use crate::fakes::vendor::Redeemed;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers, parse_time};
use crate::harness::{assert_invalid, random};

fn expected(token: &str, lifetime: i64) -> ExpectedToken<'_> {
    ExpectedToken {
        connection_id: "qbench-prod",
        access_token: token,
        lifetime,
        headers: bearer_headers(token, &[]),
        api_base_url: None,
    }
}

#[tokio::test]
async fn assertion_grant_gives_a_token_and_a_seven_day_refresh_token() {
    let app = spawn().await;
    let qbench = FakeQbench::start().await;
    app.admin.create_connection(&qbench.connection("qbench-prod")).await;
    let svc = app.service(&["qbench-prod"]).await;

    let resp = svc.token_resp("qbench-prod", None).await;
    let token = served(&resp, &qbench);
    assert_token_answer(&resp, &expected(&token, 3600));
    assert_eq!(svc.access_token("qbench-prod").await, token);
    assert_eq!((qbench.assertion_calls(), qbench.refresh_calls()), (1, 0), "one assertion, then the cache");
    assert_eq!(qbench.wrong_credential_calls(), 0);

    let view = app.admin.connection("qbench-prod").await;
    assert_eq!(view["secrets"], json!(["client_secret"]), "{view}");
    assert_eq!(view["token"]["has_refresh_token"], true, "{view}");
    let ends = parse_time(&view["token"]["refresh_token_expires_at"]);
    let days = (ends - Utc::now()).num_seconds() as f64 / 86_400.0;
    assert!((days - 7.0).abs() < 0.01, "QBench refresh tokens live 7 days, the view says {days:.3}: {view}");
}

#[tokio::test]
async fn each_refresh_presents_the_latest_refresh_token_with_its_cookie() {
    let app = spawn().await;
    let qbench = FakeQbench::start().await;
    qbench.set_expires_in(SHORT_LIFETIME);
    app.admin.create_connection(&qbench.connection("qbench-prod")).await;
    let svc = app.service(&["qbench-prod"]).await;
    svc.access_token("qbench-prod").await;

    for round in 1..=2 {
        past_half_life().await;
        let resp = svc.token_resp("qbench-prod", None).await;
        let token = served(&resp, &qbench);
        assert_token_answer(&resp, &expected(&token, SHORT_LIFETIME));
        assert_eq!(
            (qbench.assertion_calls(), qbench.refresh_calls()),
            (1, round),
            "round {round}: the token must be renewed through the refresh endpoint"
        );
    }
    // Each refresh passed the fake's `jid` cookie check; here, the tokens presented are the chain.
    let rotated = qbench.refresh_tokens().issued();
    assert_eq!(qbench.refresh_tokens().presented(), rotated[..2], "each refresh must present the latest token");
}

#[tokio::test]
async fn a_revoked_chain_is_replaced_by_a_new_assertion() {
    let app = spawn().await;
    let qbench = FakeQbench::start().await;
    app.admin.create_connection(&qbench.connection("qbench-prod")).await;
    app.admin.access_token("qbench-prod").await;
    app.admin.refresh("qbench-prod", None).await;
    assert_eq!((qbench.assertion_calls(), qbench.refresh_calls()), (1, 1));

    // Someone replays the spent token: QBench revokes the chain, the broker's current token too.
    assert_eq!(qbench.refresh_tokens().replay_spent(), Redeemed::Reused);

    let token = app.admin.refresh("qbench-prod", None).await;
    assert_eq!(token, qbench.current_token());
    assert_eq!(
        (qbench.assertion_calls(), qbench.refresh_calls()),
        (2, 2),
        "after invalid_grant on refresh the broker must sign a new assertion"
    );
    assert_eq!(qbench.refresh_tokens().provoked_reuses(), 1);
    let view = app.admin.connection("qbench-prod").await;
    assert_eq!(view["status"], "active", "{view}");
    assert_eq!(view["token"]["has_refresh_token"], true, "the new chain's token is kept: {view}");

    // The new chain works.
    let token = app.admin.refresh("qbench-prod", None).await;
    assert_eq!(token, qbench.current_token());
    assert_eq!((qbench.assertion_calls(), qbench.refresh_calls()), (2, 3));
}

#[tokio::test]
async fn an_assertion_signed_with_a_rotated_secret_is_vendor_rejected() {
    let app = spawn().await;
    let qbench = FakeQbench::start().await;
    app.admin.create_connection(&qbench.connection("qbench-prod")).await;
    let old = qbench.client_secret();
    let rotated = random::secret("qbench-rotated");
    qbench.set_client_secret(&rotated);

    let resp = app.admin.token_resp("qbench-prod", None).await;
    assert_rejected(&app, "qbench-prod", &resp, &["invalid_client"], &[&old, &rotated]).await;
    assert_eq!(qbench.calls(), 1, "refused credentials must not be retried");

    app.admin.put_secrets("qbench-prod", &json!({"client_secret": rotated})).await;
    assert_eq!(app.admin.access_token("qbench-prod").await, qbench.current_token());
}

#[tokio::test]
async fn create_needs_client_id_base_url_and_client_secret() {
    let app = spawn().await;
    let qbench = FakeQbench::start().await;
    let valid = qbench.connection("qbench-prod");
    assert_required_and_unknown_fields(&app, &valid).await;
    let mut body = valid.clone();
    body["config"]["base_url"] = json!("acme.qbench.net");
    let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
    assert_invalid(&resp, "config.base_url");
}
