//! `static_headers` hand secrets out as headers next to the bearer (API keys many vendors want
//! too), and `api_base_url` goes along; the token request itself carries the configured scope,
//! audience and extra parameters (the fake insists on them).

use serde_json::json;

use crate::fakes::{FakeOAuth2, OAuth2Options};
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};
use crate::harness::{assert_invalid, random};
use crate::vendors::{served, spawn};

#[tokio::test]
async fn static_headers_and_api_base_url_are_handed_out() {
    let app = spawn().await;
    let fake = FakeOAuth2::start(OAuth2Options {
        scope: Some("crm.read".into()),
        audience: Some("https://api.acme.example".into()),
        extra_params: vec![("resource".into(), "crm".into())],
        ..Default::default()
    })
    .await;
    let (api_key, tenant) = (random::secret("acme-api-key"), random::secret("acme-tenant"));
    let mut body = fake.connection("generic");
    body["config"]["static_headers"] = json!({"X-Api-Key": "api_key", "X-Acme-Tenant": "tenant_key"});
    body["config"]["api_base_url"] = json!("https://api.acme.example/v2");
    body["secrets"]["api_key"] = json!(api_key);
    body["secrets"]["tenant_key"] = json!(tenant);
    let view = app.admin.create_connection(&body).await;
    assert!(!view.to_string().contains(&api_key), "a view shows a secret's value: {view}");

    let resp = app.admin.token_resp("generic", None).await;
    let token = served(&resp, &fake);
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "generic",
            access_token: &token,
            lifetime: 3600,
            headers: bearer_headers(&token, &[("X-Api-Key", &api_key), ("X-Acme-Tenant", &tenant)]),
            api_base_url: Some("https://api.acme.example/v2"),
        },
    );
}

/// A credential that gets tokens is never handed to callers: `static_headers` may only name
/// secrets of their own, and their values must be valid header values.
#[tokio::test]
async fn static_headers_never_hand_out_a_grant_credential_or_a_broken_header() {
    let app = spawn().await;
    let fake = FakeOAuth2::start(OAuth2Options::default()).await;
    for credential in ["client_secret", "password", "private_key", "refresh_token"] {
        let mut body = fake.connection("generic");
        body["config"]["static_headers"] = json!({"X-Leak": credential});
        let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, "config.static_headers.X-Leak");
    }
    app.admin.create_connection(&fake.connection("generic")).await;
    let patch = json!({"config": {"static_headers": {"X-Leak": "client_secret"}}});
    let resp = app.admin.raw(reqwest::Method::PATCH, "/v1/connections/generic").json(&patch).send().await;
    assert_invalid(&resp, "config.static_headers.X-Leak");

    let mut body = fake.connection("generic2");
    body["config"]["static_headers"] = json!({"X-Api-Key": "api_key"});
    body["secrets"]["api_key"] = json!("key\r\nX-Injected: yes");
    let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
    assert_invalid(&resp, "secrets.api_key");
}
