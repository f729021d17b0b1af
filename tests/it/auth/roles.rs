//! Role `service` fetches tokens and nothing else; `GET /v1/providers` needs any valid key.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use super::{assert_forbidden, assert_unauthenticated};
use crate::harness::app_with_qubs;

#[tokio::test]
async fn service_is_forbidden_on_every_admin_route() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["*"]).await;
    let new_connection = qubs.connection("qubs-new");
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/v1/connections", None),
        (Method::POST, "/v1/connections", Some(new_connection)),
        (Method::GET, "/v1/connections/qubs-main", None),
        (Method::PATCH, "/v1/connections/qubs-main", Some(json!({"status": "disabled"}))),
        (Method::PUT, "/v1/connections/qubs-main/secrets", Some(json!({"secrets": {"client_secret": "x"}}))),
        (Method::DELETE, "/v1/connections/qubs-main", None),
        (Method::GET, "/v1/principals", None),
        (Method::POST, "/v1/principals", Some(json!({"id": "escalate", "role": "admin", "description": "x"}))),
        (Method::GET, "/v1/principals/admin", None),
        (Method::POST, "/v1/principals/admin/keys", None),
        (Method::GET, "/v1/principals/admin/keys", None),
        (Method::PUT, "/v1/principals/admin/grants/qubs-main", None),
        (Method::GET, "/v1/audit", None),
    ];
    for (method, path, body) in cases {
        let req = svc.raw(method, path);
        let req = match &body {
            Some(b) => req.json(b),
            None => req,
        };
        assert_forbidden(&req.send().await);
    }

    // None of it happened.
    let view = app.admin.connection("qubs-main").await;
    assert_eq!(view["status"], "active", "{view}");
    app.admin.raw(Method::GET, "/v1/connections/qubs-new").send().await.expect(404);
    app.admin.raw(Method::GET, "/v1/principals/escalate").send().await.expect(404);
    svc.get("/v1/connections/qubs-main/token", 200).await;
}

#[tokio::test]
async fn providers_need_any_valid_key_and_describe_the_builtins() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    assert_unauthenticated(&app.admin.raw(Method::GET, "/v1/providers").no_auth().send().await);
    let svc = app.service(&[]).await;
    let body = svc.get("/v1/providers", 200).await;
    let providers = body["providers"].as_array().unwrap_or_else(|| panic!("expected {{\"providers\": […]}}: {body}"));
    let names: BTreeSet<&str> = providers.iter().filter_map(|p| p["name"].as_str()).collect();
    for builtin in ["qubs", "qbench", "cubu", "quiqup", "qflow", "oauth2"] {
        assert!(names.contains(builtin), "provider {builtin} missing: {names:?}");
    }

    let qubs = providers.iter().find(|p| p["name"] == "qubs").expect("qubs listed");
    for member in ["description", "grants", "config", "secrets"] {
        assert!(qubs.get(member).is_some(), "provider view lacks {member}: {qubs}");
    }
    let field = |list: &str, name: &str| -> Value {
        qubs[list]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("qubs {list} lacks {name}: {qubs}"))
    };
    assert_eq!(field("config", "client_id")["required"], true, "{qubs}");
    let token_url = field("config", "token_url");
    assert_eq!(token_url["required"], false, "{qubs}");
    assert_eq!(token_url["default"], "https://authenticate.qubs.io/oauth2/token", "{qubs}");
    assert_eq!(field("secrets", "client_secret")["required"], true, "{qubs}");
}
