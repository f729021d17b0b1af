//! API keys: shown once at creation, listed without the secret, revoked by DELETE.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::harness::{assert_invalid, assert_problem, spawn_app};

fn assert_api_key_shape(key: &str) {
    let rest = key.strip_prefix("tbk_").unwrap_or_else(|| panic!("API key {key:?} lacks the tbk_ prefix"));
    assert!(
        rest.len() == 43 && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "API key {key:?}: expected tbk_ + 43 base64url characters (32 random bytes)"
    );
}

#[tokio::test]
async fn key_is_shown_once_and_listed_without_secret() {
    let app = spawn_app().await;
    app.admin.create_principal("billing-svc", "service").await;
    let created = app.admin.create_key_view("billing-svc", None).await;
    let members: BTreeSet<&str> = created.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(members, BTreeSet::from(["key_id", "api_key", "created_at", "expires_at"]), "{created}");
    assert!(created["expires_at"].is_null(), "{created}");
    let api_key = created["api_key"].as_str().expect("api_key");
    assert_api_key_shape(api_key);
    let key_id = created["key_id"].as_str().expect("key_id");

    let other = app.admin.create_key("billing-svc").await;
    assert_ne!(other, api_key, "two keys must differ");

    let list = app.admin.get("/v1/principals/billing-svc/keys", 200).await;
    let keys = list["keys"].as_array().unwrap_or_else(|| panic!("expected {{\"keys\": […]}}: {list}"));
    assert_eq!(keys.len(), 2, "{list}");
    let listed = keys.iter().find(|k| k["key_id"] == key_id).unwrap_or_else(|| panic!("{key_id} not listed: {list}"));
    let members: BTreeSet<&str> = listed.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(members, BTreeSet::from(["key_id", "created_at", "expires_at", "revoked_at"]), "{listed}");
    let text = list.to_string();
    assert!(!text.contains(api_key) && !text.contains(&other), "the key list shows a key's secret: {list}");
}

#[tokio::test]
async fn revoking_marks_the_key_and_is_idempotent() {
    let app = spawn_app().await;
    app.admin.create_principal("billing-svc", "service").await;
    let created = app.admin.create_key_view("billing-svc", None).await;
    let key_id = created["key_id"].as_str().expect("key_id");

    app.admin.revoke_key("billing-svc", key_id).await;
    let list = app.admin.get("/v1/principals/billing-svc/keys", 200).await;
    let listed = list["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["key_id"] == key_id))
        .unwrap_or_else(|| panic!("a revoked key stays listed for the audit trail: {list}"));
    crate::harness::token_answer::parse_time(&listed["revoked_at"]);

    app.admin.revoke_key("billing-svc", key_id).await;
    let unknown = app.admin.raw(Method::DELETE, "/v1/principals/billing-svc/keys/no-such-key").send().await;
    assert_problem(&unknown, 404, "not_found");
}

#[tokio::test]
async fn expires_at_must_be_a_timestamp() {
    let app = spawn_app().await;
    app.admin.create_principal("billing-svc", "service").await;
    let resp = app
        .admin
        .raw(Method::POST, "/v1/principals/billing-svc/keys")
        .json(&json!({"expires_at": "next tuesday"}))
        .send()
        .await;
    assert_invalid(&resp, "expires_at");
    let list = app.admin.get("/v1/principals/billing-svc/keys", 200).await;
    assert_eq!(list, json!({"keys": []}), "a refused key was stored");
}
