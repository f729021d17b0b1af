//! Grants: idempotent PUT and DELETE, sorted list, validated patterns.

use reqwest::Method;
use serde_json::json;

use crate::harness::{assert_invalid, spawn_app};

#[tokio::test]
async fn put_and_delete_are_idempotent_and_the_list_is_sorted() {
    let app = spawn_app().await;
    app.admin.create_principal("billing-svc", "service").await;
    for pattern in ["qflow-main", "qbench-*", "qflow-main", "*"] {
        app.admin.put_grant("billing-svc", pattern).await;
    }
    let grants = app.admin.get("/v1/principals/billing-svc/grants", 200).await;
    assert_eq!(grants, json!({"grants": ["*", "qbench-*", "qflow-main"]}));

    app.admin.delete_grant("billing-svc", "qflow-main").await;
    app.admin.delete_grant("billing-svc", "qflow-main").await;
    app.admin.delete_grant("billing-svc", "never-granted").await;
    let grants = app.admin.get("/v1/principals/billing-svc/grants", 200).await;
    assert_eq!(grants, json!({"grants": ["*", "qbench-*"]}));
}

#[tokio::test]
async fn invalid_patterns_are_rejected() {
    let app = spawn_app().await;
    app.admin.create_principal("billing-svc", "service").await;
    for pattern in ["QBENCH-*", "qbench-*-prod", "a*b", "**", "-lead"] {
        let resp = app.admin.raw(Method::PUT, &format!("/v1/principals/billing-svc/grants/{pattern}")).send().await;
        assert_invalid(&resp, "pattern");
    }
    let grants = app.admin.get("/v1/principals/billing-svc/grants", 200).await;
    assert_eq!(grants, json!({"grants": []}));
}
