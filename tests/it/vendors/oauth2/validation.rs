//! An `oauth2` config is checked as a whole at create: what the chosen grant, client
//! authentication, signing algorithm and handed-out headers need, each named when missing.

use jsonwebtoken::Algorithm;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fakes::oauth2::{Grant, JwtOptions};
use crate::fakes::{ClientAuth, FakeOAuth2, OAuth2Options};
use crate::harness::{assert_invalid, random};
use crate::vendors::{assert_required_and_unknown_fields, spawn};

/// `body` with `edit` applied to its config and secrets.
fn edited(body: &Value, edit: impl FnOnce(&mut Value, &mut Value)) -> Value {
    let mut body = body.clone();
    let (mut config, mut secrets) = (body["config"].take(), body["secrets"].take());
    edit(&mut config, &mut secrets);
    body["config"] = config;
    body["secrets"] = secrets;
    body
}

fn remove(value: &mut Value, name: &str) {
    value.as_object_mut().expect("object").remove(name);
}

#[tokio::test]
async fn what_the_grant_and_the_headers_need_is_required() {
    let app = spawn().await;
    let client = FakeOAuth2::start(OAuth2Options::default()).await;
    let valid = client.connection("generic");
    assert_required_and_unknown_fields(&app, &valid).await;
    let password = FakeOAuth2::start(OAuth2Options {
        grant: Grant::Password { username: "ops@acme.example".into(), password: random::secret("pw") },
        ..Default::default()
    })
    .await
    .connection("generic");
    let jwt = FakeOAuth2::start(OAuth2Options {
        grant: Grant::JwtBearer(JwtOptions {
            alg: Algorithm::RS256,
            public_key_pem: Some(super::keys::RSA_PUBLIC_KEY),
            private_key_pem: Some(super::keys::RSA_PRIVATE_KEY),
            claims: None,
            lifetime_seconds: None,
        }),
        client_auth: ClientAuth::None,
        ..Default::default()
    })
    .await
    .connection("generic");

    let cases: Vec<(Value, &str)> = vec![
        (edited(&valid, |_, s| remove(s, "client_secret")), "secrets.client_secret"),
        (edited(&valid, |c, _| remove(c, "client_id")), "config.client_id"),
        (edited(&password, |c, _| remove(c, "username")), "config.username"),
        (edited(&password, |_, s| remove(s, "password")), "secrets.password"),
        (edited(&valid, |c, _| c["grant_type"] = json!("refresh_token")), "secrets.refresh_token"),
        (edited(&jwt, |_, s| remove(s, "private_key")), "secrets.private_key"),
        (edited(&jwt, |c, _| c["jwt"]["alg"] = json!("none")), "config.jwt.alg"),
        (edited(&jwt, |c, _| c["jwt"]["lifetime_seconds"] = json!(5)), "config.jwt.lifetime_seconds"),
        (edited(&jwt, |c, _| c["jwt"]["kid"] = json!("k1")), "config.jwt.kid"),
        (edited(&valid, |c, _| c["refresh"] = json!({"colour": "blue"})), "config.refresh.colour"),
        (edited(&valid, |c, _| c["refresh"] = json!({"url": "not a url"})), "config.refresh.url"),
        (edited(&valid, |c, _| c["static_headers"] = json!({"X-Api-Key": "api_key"})), "secrets.api_key"),
        (
            edited(&valid, |c, s| {
                c["static_headers"] = json!({"Authorization": "api_key"});
                s["api_key"] = json!("k");
            }),
            "config.static_headers.Authorization",
        ),
        (edited(&valid, |c, _| c["extra_params"] = json!({"resource": 7})), "config.extra_params.resource"),
    ];
    for (body, field) in cases {
        let resp = app.admin.raw(Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, field);
    }
    app.admin.get("/v1/connections/generic", 404).await;
}
