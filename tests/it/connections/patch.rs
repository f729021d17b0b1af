//! `PATCH /v1/connections/{id}`: description, config keys (merge, null removes) and status.

use reqwest::Method;
use serde_json::json;

use super::{assert_view_shape, secret_names, without_timestamps};
use crate::auth::assert_forbidden;
use crate::harness::token_answer::parse_time;
use crate::harness::{app_with_qubs, assert_invalid, assert_problem};

const API_BASE: &str = "https://api.qubs.example/integrations/v1";

#[tokio::test]
async fn description_changes_and_nothing_else() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    let before = app.admin.connection("qubs-main").await;
    let after = app.admin.patch_connection("qubs-main", &json!({"description": "QUBS, production"})).await;
    assert_view_shape(&after);
    assert_eq!(after["description"], "QUBS, production");
    assert_eq!(after["config"], before["config"]);
    assert_eq!(secret_names(&after), secret_names(&before));
    assert_eq!(after["status"], "active");
    assert!(
        parse_time(&after["updated_at"]) >= parse_time(&before["updated_at"]),
        "updated_at went backwards: {before} → {after}"
    );
    assert_eq!(without_timestamps(&app.admin.connection("qubs-main").await), without_timestamps(&after));
}

#[tokio::test]
async fn disabling_stops_token_hand_outs_and_enabling_resumes_them() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let view = app.admin.patch_connection("qubs-main", &json!({"status": "disabled"})).await;
    assert_eq!(view["status"], "disabled");

    assert_forbidden(&svc.token_resp("qubs-main", None).await);
    assert_forbidden(&app.admin.token_resp("qubs-main", None).await);
    assert_forbidden(&svc.refresh_resp("qubs-main", Some("x")).await);
    assert_forbidden(&app.admin.refresh_resp("qubs-main", None).await);
    assert_eq!(qubs.calls(), 0, "a disabled connection called the vendor");

    app.admin.patch_connection("qubs-main", &json!({"status": "active"})).await;
    assert_eq!(svc.access_token("qubs-main").await, qubs.current_token());
}

#[tokio::test]
async fn config_keys_are_merged_removed_by_null_and_drop_the_cached_token() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let first = app.admin.access_token("qubs-main").await;

    let view = app.admin.patch_connection("qubs-main", &json!({"config": {"api_base_url": API_BASE}})).await;
    assert_eq!(view["config"]["api_base_url"], API_BASE);
    assert_eq!(view["config"]["client_id"], qubs.client_id().as_str(), "a config patch merges keys");
    assert!(view["token"].is_null(), "a config change drops the cached token: {view}");

    let answer = app.admin.token("qubs-main").await;
    assert_eq!(answer["api_base_url"], API_BASE, "{answer}");
    assert_ne!(answer["access_token"], first.as_str());
    assert_eq!(qubs.calls(), 2);

    let view = app.admin.patch_connection("qubs-main", &json!({"config": {"api_base_url": null}})).await;
    assert!(view["config"].get("api_base_url").is_none(), "{view}");
    let answer = app.admin.token("qubs-main").await;
    assert!(answer.get("api_base_url").is_none(), "api_base_url is present only when configured: {answer}");
}

#[tokio::test]
async fn invalid_patches_are_422_and_change_nothing() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    let before = app.admin.connection("qubs-main").await;
    let cases = [
        (json!({"status": "paused"}), "status"),
        (json!({"status": "needs_reauth"}), "status"),
        (json!({"config": {"colour": "blue"}}), "config.colour"),
        (json!({"config": {"client_id": null}}), "config.client_id"),
        (json!({"config": {"client_id": 42}}), "config.client_id"),
        (json!({"description": 5}), "description"),
        (json!({"provider": "oauth2"}), "provider"),
        (json!({"secrets": {"client_secret": "x"}}), "secrets"),
    ];
    for (body, field) in cases {
        let resp = app.admin.raw(Method::PATCH, "/v1/connections/qubs-main").json(&body).send().await;
        assert_invalid(&resp, field);
    }
    let after = app.admin.connection("qubs-main").await;
    assert_eq!(without_timestamps(&after), without_timestamps(&before));

    let resp = app
        .admin
        .raw(Method::PATCH, "/v1/connections/qubs-main")
        .body("application/json", "{\"description\": ")
        .send()
        .await;
    assert_problem(&resp, 400, "invalid_request");
}
