//! Quiqup (`quiqup`): client credentials as a JSON body, a lowercase `bearer` that is still
//! handed out as `Authorization: Bearer …`, the expiry counted from `created_at`, and the
//! `refresh_token` grant when Quiqup returns a refresh token.

use chrono::Utc;
use serde_json::json;

use super::{SHORT_LIFETIME, assert_rejected, assert_required_and_unknown_fields, past_half_life, served, spawn};
use crate::fakes::quiqup::FakeQuiqup;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers, parse_time};
use crate::harness::{assert_invalid, random};

fn expected(token: &str, lifetime: i64) -> ExpectedToken<'_> {
    ExpectedToken {
        connection_id: "quiqup-prod",
        access_token: token,
        lifetime,
        headers: bearer_headers(token, &[]),
        api_base_url: None,
    }
}

#[tokio::test]
async fn json_client_credentials_give_a_bearer_token_that_is_cached() {
    let app = spawn().await;
    let quiqup = FakeQuiqup::start().await;
    app.admin.create_connection(&quiqup.connection("quiqup-prod")).await;
    let svc = app.service(&["quiqup-prod"]).await;

    let resp = svc.token_resp("quiqup-prod", None).await;
    let token = served(&resp, &quiqup);
    assert_token_answer(&resp, &expected(&token, 3600));
    assert_eq!(svc.access_token("quiqup-prod").await, token);
    assert_eq!(quiqup.calls(), 1, "not served from the cache");
    assert_eq!(quiqup.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn the_expiry_counts_from_created_at() {
    let app = spawn().await;
    let quiqup = FakeQuiqup::start().await;
    quiqup.set_created_seconds_ago(3000);
    app.admin.create_connection(&quiqup.connection("quiqup-prod")).await;

    let resp = app.admin.token_resp("quiqup-prod", None).await;
    // Created 3000 s ago with 3600 s to live: 600 s are left, not 3600.
    assert_token_answer(&resp, &expected(&served(&resp, &quiqup), 600));
    let view = app.admin.connection("quiqup-prod").await;
    let left = (parse_time(&view["token"]["expires_at"]) - Utc::now()).num_seconds();
    assert!((590..=600).contains(&left), "the view's expires_at should be created_at + expires_in: {view}");
}

#[tokio::test]
async fn without_a_refresh_token_an_old_token_is_replaced_by_a_new_grant() {
    let app = spawn().await;
    let quiqup = FakeQuiqup::start().await;
    quiqup.set_expires_in(SHORT_LIFETIME);
    app.admin.create_connection(&quiqup.connection("quiqup-prod")).await;
    let first = app.admin.access_token("quiqup-prod").await;

    past_half_life().await;
    let resp = app.admin.token_resp("quiqup-prod", None).await;
    let second = served(&resp, &quiqup);
    assert_ne!(second, first);
    assert_token_answer(&resp, &expected(&second, SHORT_LIFETIME));
    assert_eq!(quiqup.calls_of("client_credentials"), 2);
}

#[tokio::test]
async fn a_returned_refresh_token_is_used_with_the_refresh_token_grant() {
    let app = spawn().await;
    let quiqup = FakeQuiqup::start().await;
    quiqup.set_expires_in(SHORT_LIFETIME);
    quiqup.issue_refresh_tokens();
    app.admin.create_connection(&quiqup.connection("quiqup-prod")).await;
    app.admin.access_token("quiqup-prod").await;

    for round in 1..=2 {
        past_half_life().await;
        let resp = app.admin.token_resp("quiqup-prod", None).await;
        assert_token_answer(&resp, &expected(&served(&resp, &quiqup), SHORT_LIFETIME));
        assert_eq!((quiqup.calls_of("client_credentials"), quiqup.calls_of("refresh_token")), (1, round));
    }
    let issued = quiqup.refresh_tokens().issued();
    assert_eq!(quiqup.refresh_tokens().presented(), issued[..2], "each refresh must present the latest token");
}

#[tokio::test]
async fn bad_credentials_are_vendor_rejected() {
    let app = spawn().await;
    let quiqup = FakeQuiqup::start().await;
    app.admin.create_connection(&quiqup.connection("quiqup-prod")).await;
    let old = quiqup.client_secret();
    quiqup.set_client_secret(&random::secret("quiqup-rotated"));

    let resp = app.admin.token_resp("quiqup-prod", None).await;
    assert_rejected(&app, "quiqup-prod", &resp, &["invalid_client"], &[&old, "Client authentication failed"]).await;
    assert_eq!(quiqup.calls(), 1, "refused credentials must not be retried");
}

#[tokio::test]
async fn create_needs_client_id_and_secret_and_a_known_environment() {
    let app = spawn().await;
    let quiqup = FakeQuiqup::start().await;
    let valid = quiqup.connection("quiqup-prod");
    assert_required_and_unknown_fields(&app, &valid).await;

    let mut body = valid.clone();
    body["config"]["environment"] = json!("bogus");
    let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
    assert_invalid(&resp, "config.environment");

    // Both documented environments are accepted (their URLs cannot be reached from here).
    for (id, environment) in [("quiqup-staging", "staging"), ("quiqup-production", "production")] {
        let mut body = valid.clone();
        body["id"] = json!(id);
        body["config"]["environment"] = json!(environment);
        body["config"].as_object_mut().unwrap().remove("token_url");
        app.admin.create_connection(&body).await;
    }
}
