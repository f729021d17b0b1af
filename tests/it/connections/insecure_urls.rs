//! With `TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS=false` (the production default) a vendor URL
//! must be https to a public address: credentials must not travel in clear text or be
//! pointed at internal services.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fakes::{FakeOAuth2, FakeQubs, OAuth2Options};
use crate::harness::{TestApp, assert_invalid, spawn_app_with};

async fn strict_app() -> TestApp {
    spawn_app_with(|env| env.allow_insecure_vendor_urls = false).await
}

async fn create(app: &TestApp, body: &Value) -> crate::harness::client::Resp {
    app.admin.raw(Method::POST, "/v1/connections").json(body).send().await
}

#[tokio::test]
async fn http_token_url_is_rejected() {
    let app = strict_app().await;
    let qubs = FakeQubs::start().await;
    let resp = create(&app, &qubs.connection("qubs-prod")).await;
    assert_invalid(&resp, "config.token_url");

    let generic = FakeOAuth2::start(OAuth2Options::default()).await;
    let resp = create(&app, &generic.connection("generic")).await;
    assert_invalid(&resp, "config.token_url");

    let list = app.admin.get("/v1/connections", 200).await;
    assert_eq!(list, json!({"connections": []}));
}

#[tokio::test]
async fn https_to_loopback_or_private_addresses_is_rejected() {
    let app = strict_app().await;
    let qubs = FakeQubs::start().await;
    for url in [
        "https://127.0.0.1:8443/oauth2/token",
        "https://10.1.2.3/oauth2/token",
        "https://192.168.0.10/oauth2/token",
        "https://[::1]/oauth2/token",
    ] {
        let mut body = qubs.connection("qubs-prod");
        body["config"]["token_url"] = json!(url);
        let resp = create(&app, &body).await;
        assert_invalid(&resp, "config.token_url");
    }
}

#[tokio::test]
async fn http_api_base_url_is_rejected() {
    let app = strict_app().await;
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-prod");
    body["config"].as_object_mut().expect("config").remove("token_url");
    body["config"]["api_base_url"] = json!("http://api.qubs.example/integrations/v1");
    let resp = create(&app, &body).await;
    assert_invalid(&resp, "config.api_base_url");
}

#[tokio::test]
async fn default_https_token_url_is_accepted_and_patching_to_http_is_not() {
    let app = strict_app().await;
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-prod");
    body["config"].as_object_mut().expect("config").remove("token_url");
    app.admin.create_connection(&body).await;

    let resp = app
        .admin
        .raw(Method::PATCH, "/v1/connections/qubs-prod")
        .json(&json!({"config": {"token_url": qubs.token_url()}}))
        .send()
        .await;
    assert_invalid(&resp, "config.token_url");
    let view = app.admin.connection("qubs-prod").await;
    assert_ne!(view["config"]["token_url"], qubs.token_url().as_str(), "a refused patch changed the config");
}
