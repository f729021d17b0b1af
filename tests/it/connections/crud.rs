//! Create, list, get and delete, and what a view shows.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use super::{assert_view_shape, same_instant, secret_names, without_timestamps};
use crate::fakes::FakeQubs;
use crate::harness::token_answer::parse_time;
use crate::harness::{app_with_qubs, assert_problem, spawn_app};

#[tokio::test]
async fn create_is_201_with_a_view_that_names_secrets_without_values() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let view = app.admin.create_connection(&qubs.connection("qubs-prod")).await;
    assert_view_shape(&view);
    assert_eq!(view["id"], "qubs-prod");
    assert_eq!(view["provider"], "qubs");
    assert_eq!(view["description"], "QUBS integrations (fake)");
    assert_eq!(view["config"]["client_id"], qubs.client_id().as_str());
    assert_eq!(view["config"]["token_url"], qubs.token_url().as_str());
    assert_eq!(secret_names(&view), BTreeSet::from(["client_secret".to_owned()]));
    assert_eq!(view["status"], "active");
    assert!(view["token"].is_null(), "no token yet: {view}");
    assert!(view["last_error"].is_null(), "no error yet: {view}");
    assert!(!view.to_string().contains(&qubs.client_secret()), "the view holds the secret's value: {view}");
}

#[tokio::test]
async fn list_and_get_show_the_created_view() {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    let a = app.admin.create_connection(&qubs.connection("qubs-a")).await;
    let b = app.admin.create_connection(&qubs.connection("qubs-b")).await;

    let got = app.admin.connection("qubs-a").await;
    assert_eq!(without_timestamps(&got), without_timestamps(&a));
    assert!(same_instant(&got["created_at"], &a["created_at"]), "{got} vs {a}");

    let list = app.admin.get("/v1/connections", 200).await;
    let listed = list["connections"].as_array().unwrap_or_else(|| panic!("expected {{\"connections\": […]}}: {list}"));
    assert_eq!(listed.len(), 2, "{list}");
    for created in [&a, &b] {
        let item = listed
            .iter()
            .find(|c| c["id"] == created["id"])
            .unwrap_or_else(|| panic!("{} not listed: {list}", created["id"]));
        assert_view_shape(item);
        assert_eq!(without_timestamps(item), without_timestamps(created));
    }
    assert!(!list.to_string().contains(&qubs.client_secret()), "{list}");
}

#[tokio::test]
async fn view_shows_token_metadata_once_a_token_was_fetched() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    let answer = app.admin.token("qubs-main").await;
    let view = app.admin.connection("qubs-main").await;
    assert_view_shape(&view);
    let token = &view["token"];
    let members: BTreeSet<&str> = token
        .as_object()
        .unwrap_or_else(|| panic!("`token` should describe the cached token: {view}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        members,
        BTreeSet::from(["obtained_at", "expires_at", "has_refresh_token", "refresh_token_expires_at"]),
        "{view}"
    );
    assert_eq!(token["has_refresh_token"], false, "QUBS gives no refresh token");
    assert!(token["refresh_token_expires_at"].is_null(), "{view}");
    let obtained = parse_time(&token["obtained_at"]);
    let expires = parse_time(&token["expires_at"]);
    assert!(
        (expires - parse_time(&answer["expires_at"])).num_seconds().abs() <= 1,
        "view and token answer disagree on expiry: {view} / {answer}"
    );
    assert!(((expires - obtained).num_seconds() - 3600).abs() <= 2, "the fake's token lives 3600 s: {view}");
    assert!(
        !view.to_string().contains(answer["access_token"].as_str().expect("token")),
        "the view holds the access token: {view}"
    );
}

#[tokio::test]
async fn delete_is_204_then_everything_is_404() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    app.admin.token("qubs-main").await;
    app.admin.delete("/v1/connections/qubs-main", 204).await;

    let cases = [
        (Method::GET, "/v1/connections/qubs-main", None),
        (Method::GET, "/v1/connections/qubs-main/token", None),
        (Method::POST, "/v1/connections/qubs-main/token/refresh", Some(json!({"rejected_access_token": "x"}))),
        (Method::PATCH, "/v1/connections/qubs-main", Some(json!({"description": "x"}))),
        (Method::PUT, "/v1/connections/qubs-main/secrets", Some(json!({"secrets": {"client_secret": "x"}}))),
        (Method::DELETE, "/v1/connections/qubs-main", None),
    ];
    for (method, path, body) in cases {
        let req = app.admin.raw(method, path);
        let req = match &body {
            Some(b) => req.json(b),
            None => req,
        };
        assert_problem(&req.send().await, 404, "not_found");
    }
    let list = app.admin.get("/v1/connections", 200).await;
    assert_eq!(list, json!({"connections": []}));
}

#[tokio::test]
async fn duplicate_id_is_409_and_keeps_the_original() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let mut again = qubs.connection("qubs-main");
    again["description"] = json!("an impostor");
    let resp = app.admin.raw(Method::POST, "/v1/connections").json(&again).send().await;
    assert_problem(&resp, 409, "already_exists");
    let view = app.admin.connection("qubs-main").await;
    assert_eq!(view["description"], "QUBS integrations (fake)");
}
