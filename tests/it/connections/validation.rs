//! Every way a create can be wrong is refused with the field named, and leaves nothing behind.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fakes::{FakeOAuth2, FakeQubs, OAuth2Options};
use crate::harness::problem::error_fields;
use crate::harness::{TestApp, assert_invalid, assert_problem, spawn_app};

/// `base` with the member at JSON pointer `at` set to `value`.
fn with(base: &Value, at: &str, value: Value) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    let mut body = base.clone();
    body.pointer_mut(parent).and_then(Value::as_object_mut).expect("parent object").insert(key.to_owned(), value);
    body
}

/// `base` without the member at JSON pointer `at`.
fn without(base: &Value, at: &str) -> Value {
    let (parent, key) = at.rsplit_once('/').expect("a JSON pointer");
    let mut body = base.clone();
    body.pointer_mut(parent).and_then(Value::as_object_mut).expect("parent object").remove(key);
    body
}

async fn assert_nothing_created(app: &TestApp) {
    let list = app.admin.get("/v1/connections", 200).await;
    assert_eq!(list, json!({"connections": []}), "a refused create left a connection behind");
}

#[tokio::test]
async fn each_invalid_create_is_422_naming_the_field() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let base = qubs.connection("qubs-prod");

    let cases: Vec<(&str, Value, &str)> = vec![
        ("upper case and punctuation in id", with(&base, "/id", json!("Qubs_Prod!")), "id"),
        ("id of 64 characters", with(&base, "/id", json!("q".repeat(64))), "id"),
        ("id starting with a dash", with(&base, "/id", json!("-qubs")), "id"),
        ("empty id", with(&base, "/id", json!("")), "id"),
        ("id of the wrong type", with(&base, "/id", json!(7)), "id"),
        ("missing id", without(&base, "/id"), "id"),
        ("unknown provider", with(&base, "/provider", json!("nope")), "provider"),
        ("missing provider", without(&base, "/provider"), "provider"),
        ("missing required config", without(&base, "/config/client_id"), "config.client_id"),
        ("unknown config field", with(&base, "/config/colour", json!("blue")), "config.colour"),
        ("config value of the wrong type", with(&base, "/config/client_id", json!(42)), "config.client_id"),
        ("missing required secret", with(&base, "/secrets", json!({})), "secrets.client_secret"),
        ("unknown secret", with(&base, "/secrets/pin", json!("1234")), "secrets.pin"),
        ("secret of the wrong type", with(&base, "/secrets/client_secret", json!(12345)), "secrets.client_secret"),
        ("description of the wrong type", with(&base, "/description", json!(5)), "description"),
        ("unknown top-level member", with(&base, "/colour", json!("blue")), "colour"),
    ];
    for (case, body, field) in cases {
        let resp = app.admin.raw(Method::POST, "/v1/connections").json(&body).send().await;
        assert_eq!(resp.status, 422, "{case}: expected 422, got {}: {}", resp.status, resp.body);
        assert_invalid(&resp, field);
        if body["id"] == "qubs-prod" {
            app.admin.raw(Method::GET, "/v1/connections/qubs-prod").send().await.expect(404);
        }
    }
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn all_problems_of_one_create_are_named_together() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let body = with(&without(&qubs.connection("qubs-prod"), "/config/client_id"), "/secrets/pin", json!("1234"));
    let resp = app.admin.raw(Method::POST, "/v1/connections").json(&body).send().await;
    let problem = assert_invalid(&resp, "config.client_id");
    assert!(error_fields(&problem).iter().any(|f| f == "secrets.pin"), "both problems should be named: {problem}");
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn oauth2_config_is_validated() {
    let app = spawn_app().await;
    let fake = FakeOAuth2::start(OAuth2Options::default()).await;
    let base = fake.connection("generic");
    let cases: Vec<(Value, &str)> = vec![
        (without(&base, "/config/token_url"), "config.token_url"),
        (without(&base, "/config/grant_type"), "config.grant_type"),
        (with(&base, "/config/grant_type", json!("implicit")), "config.grant_type"),
        (with(&base, "/config/client_auth", json!("header")), "config.client_auth"),
        (with(&base, "/config/body_format", json!("xml")), "config.body_format"),
        (with(&base, "/config/token_url", json!("not a url")), "config.token_url"),
    ];
    for (body, field) in cases {
        let resp = app.admin.raw(Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, field);
    }
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let good = serde_json::to_string(&qubs.connection("qubs-prod")).expect("JSON");
    let malformed = &good[..good.len() - 5];

    let cases = [
        ("malformed JSON", Some("application/json"), malformed.to_owned()),
        ("JSON sent as text/plain", Some("text/plain"), good.clone()),
        ("a form", Some("application/x-www-form-urlencoded"), "id=qubs-prod&provider=qubs".to_owned()),
        ("no content type", None, good.clone()),
    ];
    for (case, content_type, body) in cases {
        let req = app.admin.raw(Method::POST, "/v1/connections");
        let req = match content_type {
            Some(ct) => req.body(ct, body),
            None => req.body_without_content_type(body),
        };
        let resp = req.send().await;
        assert_eq!(resp.status, 400, "{case}: expected 400, got {}: {}", resp.status, resp.body);
        assert_problem(&resp, 400, "invalid_request");
    }
    assert_nothing_created(&app).await;
}
