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

    let secrets = json!({"client_secret": qubs.client_secret()});
    let change = json!({"config": {"api_base_url": API_BASE}, "secrets": secrets});
    let view = app.admin.patch_connection("qubs-main", &change).await;
    assert_eq!(view["config"]["api_base_url"], API_BASE);
    assert_eq!(view["config"]["client_id"], qubs.client_id().as_str(), "a config patch merges keys");
    assert!(view["token"].is_null(), "a config change drops the cached token: {view}");

    let answer = app.admin.token("qubs-main").await;
    assert_eq!(answer["api_base_url"], API_BASE, "{answer}");
    assert_ne!(answer["access_token"], first.as_str());
    assert_eq!(qubs.calls(), 2);

    let view =
        app.admin.patch_connection("qubs-main", &json!({"config": {"api_base_url": null}, "secrets": secrets})).await;
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
        (json!({"secrets": {"client_secret": 5}}), "secrets.client_secret"),
        (json!({"secrets": {"colour": "blue"}}), "secrets.colour"),
        // Where the credentials go cannot change without the credentials given again.
        (json!({"config": {"token_url": "https://elsewhere.example/oauth2/token"}}), "secrets.client_secret"),
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

/// Secrets go only where they were sent (issue 12, finding 4): a change of where a connection's
/// credentials go (`destination` fields) needs them given again in the same request, and the
/// audit trail says from where to where.
#[tokio::test]
async fn moving_where_credentials_go_needs_them_again_and_is_audited() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let elsewhere = crate::fakes::FakeQubs::start().await;
    let before = app.admin.connection("qubs-main").await;
    let moved = json!({"config": {"token_url": elsewhere.token_url()}});
    let resp = app.admin.raw(Method::PATCH, "/v1/connections/qubs-main").json(&moved).send().await;
    assert_invalid(&resp, "secrets.client_secret");
    assert_eq!(without_timestamps(&app.admin.connection("qubs-main").await), without_timestamps(&before));

    let with_secret = json!({
        "config": {"token_url": elsewhere.token_url(), "client_id": elsewhere.client_id()},
        "secrets": {"client_secret": elsewhere.client_secret()},
    });
    let view = app.admin.patch_connection("qubs-main", &with_secret).await;
    assert_eq!(view["config"]["token_url"], elsewhere.token_url().as_str());
    assert_eq!(app.admin.access_token("qubs-main").await, elsewhere.current_token());
    assert_eq!((qubs.calls(), elsewhere.wrong_credential_calls()), (0, 0));

    let events = app.admin.audit_events(&[("action", "connection.update")]).await;
    let detail = &events[0]["detail"];
    assert_eq!(detail["destinations"]["token_url"]["from"], qubs.token_url().as_str(), "{detail}");
    assert_eq!(detail["destinations"]["token_url"]["to"], elsewhere.token_url().as_str(), "{detail}");
    assert_eq!(detail["secrets"], json!(["client_secret"]), "{detail}");
    assert!(!events[0].to_string().contains(&elsewhere.client_secret()), "the audit trail holds a secret");
}
