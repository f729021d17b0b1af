//! What the OpenAPI document says a request may carry, the server accepts, and what it rules
//! out, the server refuses with a 4xx naming the parameter (decisions.md, "OpenAPI and interop").

use reqwest::Method;
use serde_json::json;

use crate::fakes::FakeQubs;
use crate::harness::client::{RawRequest, TestClient};
use crate::harness::{assert_names_field, assert_problem, spawn_app};

fn refresh_with_null_body(client: &TestClient) -> RawRequest {
    client.raw(Method::POST, "/v1/connections/qubs-main/token/refresh").body("application/json", " null ")
}

#[tokio::test]
async fn a_null_body_is_no_body() {
    let app = spawn_app().await;
    app.admin.create_principal("svc", "service").await;
    let resp = app.admin.raw(Method::POST, "/v1/principals/svc/keys").body("application/json", "null").send().await;
    let key = resp.expect(201);
    assert!(key["expires_at"].is_null() && key["api_key"].as_str().is_some_and(|k| k.starts_with("tbk_")), "{key}");

    let fake = FakeQubs::start().await;
    app.admin.create_connection(&fake.connection("qubs-main")).await;
    // As without a body: an admin forces a refresh, a service may not.
    refresh_with_null_body(&app.admin).send().await.expect(200);
    app.admin.put_grant("svc", "qubs-*").await;
    let service = app.admin.with_key(key["api_key"].as_str().expect("api_key"));
    assert_problem(&refresh_with_null_body(&service).send().await, 403, "forbidden");
}

#[tokio::test]
async fn a_key_id_this_broker_cannot_have_issued_is_404() {
    let app = spawn_app().await;
    for key_id in ["nope", "key_%00%00%00%00%00%00%00%00%00%00%00%00", "bootstrap_ZZZZZZZZZZZZ"] {
        let resp = app.admin.raw(Method::DELETE, &format!("/v1/principals/admin/keys/{key_id}")).send().await;
        assert_problem(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn integer_parameters_are_plain_digits_in_range() {
    let app = spawn_app().await;
    let fake = FakeQubs::start().await;
    app.admin.create_connection(&fake.connection("qubs-main")).await;
    for bad in ["%2B5", "-1", "86401", "9223372036854775807", "1.0", ""] {
        let resp = app.admin.raw(Method::GET, &format!("/v1/connections/qubs-main/token?min_ttl={bad}")).send().await;
        assert_names_field(&assert_problem(&resp, 400, "invalid_request"), "min_ttl");
    }
    app.admin.get("/v1/connections/qubs-main/token?min_ttl=86400", 200).await;
    for (query, field) in [
        ("limit=%2B5", "limit"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=-1", "cursor"),
        ("cursor=1234567890123456789", "cursor"),
    ] {
        let resp = app.admin.raw(Method::GET, &format!("/v1/audit?{query}")).send().await;
        assert_names_field(&assert_problem(&resp, 400, "invalid_request"), field);
    }
    app.admin.get("/v1/audit?limit=500&cursor=999999999999999999", 200).await;
}

#[tokio::test]
async fn audit_filters_are_checked_before_they_reach_the_database() {
    let app = spawn_app().await;
    // A NUL cannot be stored in PostgreSQL text: once, this was a 500.
    for (query, field) in [
        ("connection_id=a%00b", "connection_id"),
        ("principal_id=", "principal_id"),
        ("action=principal.rename", "action"),
    ] {
        let resp = app.admin.raw(Method::GET, &format!("/v1/audit?{query}")).send().await;
        assert_names_field(&assert_problem(&resp, 400, "invalid_request"), field);
    }
    let events = app.admin.get("/v1/audit?action=principal.bootstrap&principal_id=admin", 200).await;
    assert!(events["events"].is_array(), "{events}");
}

#[tokio::test]
async fn patch_accepts_exactly_the_documented_statuses() {
    let app = spawn_app().await;
    let fake = FakeQubs::start().await;
    app.admin.create_connection(&fake.connection("qubs-main")).await;
    let view = app.admin.patch("/v1/connections/qubs-main", &json!({"status": "disabled"}), 200).await;
    assert_eq!(view["status"], "disabled");
    let view = app.admin.patch("/v1/connections/qubs-main", &json!({"status": null, "description": null}), 200).await;
    assert_eq!(view["status"], "disabled", "null leaves the status as it is");
    let resp =
        app.admin.raw(Method::PATCH, "/v1/connections/qubs-main").json(&json!({"status": "needs_reauth"})).send().await;
    assert_names_field(&assert_problem(&resp, 422, "invalid_request"), "status");
}
