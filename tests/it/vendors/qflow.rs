//! Qflow (`qflow`): the password grant, then single-use refresh tokens that rotate on every
//! refresh and never expire; `Ocp-Apim-Subscription-Key` handed out next to the bearer. A
//! connection may start from a refresh token alone; when that is refused and no password is
//! stored, only an admin can help: `needs_reauth` until new secrets are put.

use serde_json::json;

use super::{SHORT_LIFETIME, assert_rejected, assert_required_and_unknown_fields, past_half_life, served, spawn};
use crate::fakes::qflow::FakeQflow;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};
use crate::harness::{assert_invalid, assert_problem, random};

fn expected<'a>(qflow: &'a FakeQflow, token: &'a str, lifetime: i64) -> ExpectedToken<'a> {
    ExpectedToken {
        connection_id: "qflow-main",
        access_token: token,
        lifetime,
        headers: bearer_headers(token, &[("Ocp-Apim-Subscription-Key", &qflow.subscription_key)]),
        api_base_url: None,
    }
}

#[tokio::test]
async fn password_grant_token_is_handed_out_with_the_subscription_key() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    app.admin.create_connection(&qflow.connection("qflow-main")).await;
    let svc = app.service(&["qflow-main"]).await;

    let resp = svc.token_resp("qflow-main", None).await;
    let token = served(&resp, &qflow);
    assert_token_answer(&resp, &expected(&qflow, &token, 3600));
    assert_eq!(svc.access_token("qflow-main").await, token);
    assert_eq!((qflow.password_grants(), qflow.refresh_grants()), (1, 0), "one password grant, then the cache");
    assert_eq!(qflow.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn every_refresh_presents_the_latest_refresh_token() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    qflow.set_expires_in(SHORT_LIFETIME);
    app.admin.create_connection(&qflow.connection("qflow-main")).await;
    let svc = app.service(&["qflow-main"]).await;
    svc.access_token("qflow-main").await;

    for round in 1..=2 {
        past_half_life().await;
        let resp = svc.token_resp("qflow-main", None).await;
        let token = served(&resp, &qflow);
        assert_token_answer(&resp, &expected(&qflow, &token, SHORT_LIFETIME));
        assert_eq!((qflow.password_grants(), qflow.refresh_grants()), (1, round), "round {round}");
    }
    let issued = qflow.refresh_tokens().issued();
    assert_eq!(qflow.refresh_tokens().presented(), issued[..2], "each refresh must present the latest token");
}

#[tokio::test]
async fn a_connection_starts_from_a_refresh_token_without_a_password() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    let given = qflow.offline_refresh_token();
    let view = app.admin.create_connection(&qflow.connection_from_refresh_token("qflow-main", &given)).await;
    assert!(!view.to_string().contains(&given), "{view}");
    // decisions.md: a given refresh token is token state, not a stored secret.
    assert_eq!(view["secrets"], json!(["client_secret", "subscription_key"]), "{view}");
    assert_eq!(view["token"]["has_refresh_token"], true, "{view}");

    let resp = app.admin.token_resp("qflow-main", None).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let token = qflow.current_token();
    assert_token_answer(&resp, &expected(&qflow, &token, 3600));
    let token = app.admin.refresh("qflow-main", None).await;
    assert_eq!(token, qflow.current_token());

    assert_eq!(qflow.password_grants(), 0);
    let issued = qflow.refresh_tokens().issued();
    assert_eq!(qflow.refresh_tokens().presented(), [given, issued[1].clone()], "the given token, then the rotated one");
}

#[tokio::test]
async fn a_refused_refresh_token_without_a_password_needs_reauth_until_secrets_are_put() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    let given = qflow.offline_refresh_token();
    app.admin.create_connection(&qflow.connection_from_refresh_token("qflow-main", &given)).await;
    let svc = app.service(&["qflow-main"]).await;
    svc.access_token("qflow-main").await;

    // The user signed out everywhere: Qflow refuses the broker's refresh token.
    qflow.refresh_tokens().revoke_all();
    assert_problem(&app.admin.refresh_resp("qflow-main", None).await, 409, "needs_reauth");
    let view = app.admin.connection("qflow-main").await;
    assert_eq!(view["status"], "needs_reauth", "{view}");
    let calls = qflow.calls();
    assert_problem(&svc.token_resp("qflow-main", None).await, 409, "needs_reauth");
    assert_eq!(qflow.calls(), calls, "a connection that needs new secrets must not call the vendor");

    let view = app.admin.put_secrets("qflow-main", &json!({"password": qflow.password()})).await;
    assert_eq!(view["status"], "active", "{view}");
    assert_eq!(svc.access_token("qflow-main").await, qflow.current_token());
    assert_eq!(qflow.password_grants(), 1);
}

#[tokio::test]
async fn an_unknown_starting_refresh_token_needs_reauth() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    let stale = random::secret("qflow-stale-refresh-token");
    app.admin.create_connection(&qflow.connection_from_refresh_token("qflow-main", &stale)).await;
    let resp = app.admin.token_resp("qflow-main", None).await;
    assert_problem(&resp, 409, "needs_reauth");
    assert!(!resp.body.contains(&stale), "{}", resp.body);
    assert_eq!(app.admin.connection("qflow-main").await["status"], "needs_reauth");
}

#[tokio::test]
async fn a_refused_refresh_token_with_a_password_falls_back_to_the_password_grant() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    app.admin.create_connection(&qflow.connection("qflow-main")).await;
    app.admin.access_token("qflow-main").await;

    qflow.refresh_tokens().revoke_all();
    let token = app.admin.refresh("qflow-main", None).await;
    assert_eq!(token, qflow.current_token());
    assert_eq!((qflow.password_grants(), qflow.refresh_grants()), (2, 1));
    assert_eq!(app.admin.connection("qflow-main").await["status"], "active");
}

#[tokio::test]
async fn wrong_password_and_wrong_client_are_vendor_rejected() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    app.admin.create_connection(&qflow.connection("qflow-main")).await;
    let password = qflow.password();
    qflow.set_password(&random::secret("qflow-new-password"));
    let resp = app.admin.token_resp("qflow-main", None).await;
    assert_rejected(&app, "qflow-main", &resp, &["invalid_grant"], &[&password, &qflow.password()]).await;
    assert_eq!(qflow.calls(), 1, "a refused password must not be retried");

    let secret = qflow.client_secret();
    qflow.set_client_secret(&random::secret("qflow-rotated"));
    app.admin.put_secrets("qflow-main", &json!({"password": qflow.password()})).await;
    let resp = app.admin.token_resp("qflow-main", None).await;
    assert_rejected(&app, "qflow-main", &resp, &["invalid_client"], &[&secret, &qflow.client_secret()]).await;
}

#[tokio::test]
async fn create_needs_a_password_or_a_refresh_token_and_a_valid_username() {
    let app = spawn().await;
    let qflow = FakeQflow::start().await;
    let valid = qflow.connection("qflow-main");
    assert_required_and_unknown_fields(&app, &valid).await;

    let mut body = valid.clone();
    body["secrets"].as_object_mut().unwrap().remove("password");
    let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
    assert_invalid(&resp, "secrets.password");
    for bad in ["joe", "pin/with/slashes@example.com", "12 34/ops@example.com"] {
        let mut body = valid.clone();
        body["config"]["username"] = json!(bad);
        let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, "config.username");
    }
}
