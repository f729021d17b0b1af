//! The generic provider must speak each dialect its config names, because the fake refuses
//! the others (as real servers do).

use crate::fakes::{BodyFormat, ClientAuth, FakeOAuth2, OAuth2Options};
use crate::harness::spawn_app;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};

async fn token_is_obtained_with(options: OAuth2Options) {
    let app = spawn_app().await;
    let fake = FakeOAuth2::start(options).await;
    app.admin.create_connection(&fake.connection("generic")).await;
    let resp = app.admin.token_resp("generic", None).await;
    assert_eq!(resp.status, 200, "options {:?}: {}", fake.options, resp.body);
    let token = fake.current_token();
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "generic",
            access_token: &token,
            lifetime: 3600,
            headers: bearer_headers(&token, &[]),
            api_base_url: None,
        },
    );
    assert_eq!(fake.calls(), 1);
    assert_eq!(app.admin.access_token("generic").await, token, "not cached");
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn form_body_with_credentials_in_the_body() {
    token_is_obtained_with(OAuth2Options {
        body_format: BodyFormat::Form,
        client_auth: ClientAuth::Body,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn form_body_with_http_basic() {
    token_is_obtained_with(OAuth2Options {
        body_format: BodyFormat::Form,
        client_auth: ClientAuth::Basic,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn json_body_with_credentials_in_the_body() {
    token_is_obtained_with(OAuth2Options {
        body_format: BodyFormat::Json,
        client_auth: ClientAuth::Body,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn json_body_with_http_basic() {
    token_is_obtained_with(OAuth2Options {
        body_format: BodyFormat::Json,
        client_auth: ClientAuth::Basic,
        ..Default::default()
    })
    .await;
}

#[tokio::test]
async fn scope_audience_and_extra_params_are_sent() {
    token_is_obtained_with(OAuth2Options {
        scope: Some("inventory.read orders.write".into()),
        audience: Some("https://api.vendor.example".into()),
        extra_params: vec![("resource".into(), "urn:vendor:api".into())],
        ..Default::default()
    })
    .await;
}
