//! Create, list, get, delete; and a deleted principal takes its keys and grants with it.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::auth::assert_unauthenticated;
use crate::harness::{app_with_qubs, assert_invalid, assert_problem, spawn_app};

#[tokio::test]
async fn create_list_get_delete() {
    let app = spawn_app().await;
    let created = app
        .admin
        .post("/v1/principals", &json!({"id": "billing-svc", "role": "service", "description": "Billing"}), 201)
        .await;
    let members: BTreeSet<&str> = created.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(members, BTreeSet::from(["id", "role", "description", "created_at"]), "{created}");
    assert_eq!(created["id"], "billing-svc");
    assert_eq!(created["role"], "service");
    assert_eq!(created["description"], "Billing");
    crate::harness::token_answer::parse_time(&created["created_at"]);

    app.admin.create_principal("ops", "admin").await;
    let list = app.admin.get("/v1/principals", 200).await;
    let ids: BTreeSet<&str> = list["principals"]
        .as_array()
        .unwrap_or_else(|| panic!("expected {{\"principals\": […]}}: {list}"))
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ids.is_superset(&BTreeSet::from(["admin", "billing-svc", "ops"])), "{ids:?}");

    let fetched = app.admin.get("/v1/principals/billing-svc", 200).await;
    assert_eq!(fetched, created);

    app.admin.delete("/v1/principals/billing-svc", 204).await;
    let gone = app.admin.raw(Method::GET, "/v1/principals/billing-svc").send().await;
    assert_problem(&gone, 404, "not_found");
    let again = app.admin.raw(Method::DELETE, "/v1/principals/billing-svc").send().await;
    assert_problem(&again, 404, "not_found");
}

#[tokio::test]
async fn duplicate_is_409_already_exists() {
    let app = spawn_app().await;
    app.admin.create_principal("billing-svc", "service").await;
    let resp = app
        .admin
        .raw(Method::POST, "/v1/principals")
        .json(&json!({"id": "billing-svc", "role": "admin", "description": "again"}))
        .send()
        .await;
    assert_problem(&resp, 409, "already_exists");
    let kept = app.admin.get("/v1/principals/billing-svc", 200).await;
    assert_eq!(kept["role"], "service", "a refused create changed the principal");
}

#[tokio::test]
async fn unknown_principal_is_404() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/v1/principals/nobody"),
        (Method::DELETE, "/v1/principals/nobody"),
        (Method::GET, "/v1/principals/nobody/keys"),
        (Method::POST, "/v1/principals/nobody/keys"),
        (Method::GET, "/v1/principals/nobody/grants"),
        (Method::PUT, "/v1/principals/nobody/grants/qubs-main"),
        (Method::DELETE, "/v1/principals/nobody/grants/qubs-main"),
    ] {
        let resp = app.admin.raw(method, path).send().await;
        assert_problem(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn invalid_role_is_rejected() {
    let app = spawn_app().await;
    let resp = app
        .admin
        .raw(Method::POST, "/v1/principals")
        .json(&json!({"id": "billing-svc", "role": "superuser", "description": "x"}))
        .send()
        .await;
    assert_invalid(&resp, "role");
    app.admin.raw(Method::GET, "/v1/principals/billing-svc").send().await.expect(404);
}

#[tokio::test]
async fn deleting_a_principal_removes_its_keys_and_grants() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    app.admin.create_principal("billing-svc", "service").await;
    app.admin.put_grant("billing-svc", "qubs-main").await;
    let key = app.admin.create_key("billing-svc").await;
    let svc = app.admin.with_key(&key);
    svc.get("/v1/connections/qubs-main/token", 200).await;

    app.admin.delete("/v1/principals/billing-svc", 204).await;
    assert_unauthenticated(&svc.raw(Method::GET, "/v1/connections/qubs-main/token").send().await);

    // Same id again: a new principal, with none of the old one's keys or grants.
    app.admin.create_principal("billing-svc", "service").await;
    let grants = app.admin.get("/v1/principals/billing-svc/grants", 200).await;
    assert_eq!(grants, json!({"grants": []}));
    let keys = app.admin.get("/v1/principals/billing-svc/keys", 200).await;
    assert_eq!(keys, json!({"keys": []}));
    assert_unauthenticated(&svc.raw(Method::GET, "/v1/connections/qubs-main/token").send().await);
}

/// The last admin cannot delete itself (an API fuzzer did, locking everyone out until a
/// restart); with a second admin it can.
#[tokio::test]
async fn the_last_admin_cannot_be_deleted() {
    let app = spawn_app().await;
    let resp = app.admin.raw(Method::DELETE, "/v1/principals/admin").send().await;
    let problem = assert_problem(&resp, 403, "forbidden");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("last admin"), "{problem}");
    app.admin.get("/v1/principals/admin", 200).await;

    app.admin.create_principal("ops", "admin").await;
    let ops = app.admin.with_key(&app.admin.create_key("ops").await);
    ops.delete("/v1/principals/admin", 204).await;
    let resp = ops.raw(Method::DELETE, "/v1/principals/ops").send().await;
    assert_problem(&resp, 403, "forbidden");
}
