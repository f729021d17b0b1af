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

#[tokio::test]
async fn special_names_and_embedded_private_addresses_are_rejected() {
    let app = strict_app().await;
    let qubs = FakeQubs::start().await;
    for url in [
        "https://localhost./oauth2/token",
        "https://foo.localhost./oauth2/token",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://[::127.0.0.1]/oauth2/token",
        "https://[::ffff:169.254.169.254]/latest",
        "https://[64:ff9b::a00:1]/oauth2/token",
        "https://[2002:7f00:1::]/oauth2/token",
        "https://0.0.0.1/oauth2/token",
        "https://198.18.0.1/oauth2/token",
        "https://240.0.0.1/oauth2/token",
        "https://224.0.0.1/oauth2/token",
    ] {
        let mut body = qubs.connection("qubs-prod");
        body["config"]["token_url"] = json!(url);
        let resp = create(&app, &body).await;
        assert_invalid(&resp, "config.token_url");
    }
}

/// A URL whose host is a name is checked again where it matters, when the broker connects:
/// a name that resolves to loopback (here the machine's own host name, from /etc/hosts; the
/// same holds for DNS rebinding) is never connected to, and the failure says why.
#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_never_connected_to() {
    let host = std::fs::read_to_string("/etc/hostname").expect("read /etc/hostname");
    let host = host.trim();
    let resolved: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((host, 443)).await.expect("the machine's host name resolves").collect();
    assert!(
        !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback()),
        "this test needs the host name {host:?} to resolve to loopback (as /etc/hosts makes it here): {resolved:?}"
    );
    let app = strict_app().await;
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-prod");
    body["config"]["token_url"] = json!(format!("https://{host}:{}/oauth2/token", qubs.addr.port()));
    app.admin.create_connection(&body).await;

    let resp = app.admin.token_resp("qubs-prod", None).await;
    crate::harness::assert_problem(&resp, 503, "vendor_unavailable");
    let detail = resp.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains("non-public"), "the refusal does not say why: {detail}");
    assert!(detail.contains(&format!("https://{host}:{}/oauth2/token", qubs.addr.port())), "{detail}");
    assert_eq!(qubs.calls(), 0, "the broker connected to a loopback address");
}

#[tokio::test]
async fn api_base_url_with_line_breaks_is_rejected() {
    let app = spawn_app_with(|_| {}).await;
    let qubs = FakeQubs::start().await;
    for bad in
        ["https://api.example.com/v1\r\nX-Injected: 1", "https://api.example.com/v1\n", " https://api.example.com"]
    {
        let mut body = qubs.connection("qubs-prod");
        body["config"]["api_base_url"] = json!(bad);
        let resp = create(&app, &body).await;
        assert_invalid(&resp, "config.api_base_url");
    }
}
