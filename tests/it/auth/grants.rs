//! A service may fetch tokens only for connections a grant (exact id or `prefix*`) covers.

use reqwest::Method;

use super::assert_forbidden;
use crate::fakes::FakeQubs;
use crate::harness::{TestApp, spawn_app};

async fn app_with(ids: &[&str]) -> (TestApp, FakeQubs) {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    for id in ids {
        app.admin.create_connection(&qubs.connection(id)).await;
    }
    (app, qubs)
}

fn token_path(id: &str) -> String {
    format!("/v1/connections/{id}/token")
}

#[tokio::test]
async fn service_without_grant_is_403_and_an_exact_grant_allows() {
    let (app, qubs) = app_with(&["qubs-main", "qubs-other"]).await;
    let svc = app.service(&[]).await;
    assert_forbidden(&svc.raw(Method::GET, &token_path("qubs-main")).send().await);
    assert_eq!(qubs.calls(), 0, "a forbidden call reached the vendor");

    let svc = app.service(&["qubs-main"]).await;
    svc.get(&token_path("qubs-main"), 200).await;
    assert_forbidden(&svc.raw(Method::GET, &token_path("qubs-other")).send().await);
    // An exact grant is not a prefix.
    assert_forbidden(&svc.raw(Method::GET, &token_path("qubs-mainx")).send().await);
}

#[tokio::test]
async fn prefix_grant_allows_matching_ids_only() {
    let (app, _qubs) = app_with(&["qbench-a", "qbench-b", "qflow-a", "qbenchx"]).await;
    let svc = app.service(&["qbench-*"]).await;
    svc.get(&token_path("qbench-a"), 200).await;
    svc.get(&token_path("qbench-b"), 200).await;
    assert_forbidden(&svc.raw(Method::GET, &token_path("qflow-a")).send().await);
    assert_forbidden(&svc.raw(Method::GET, &token_path("qbenchx")).send().await);
}

#[tokio::test]
async fn star_alone_grants_every_connection() {
    let (app, _qubs) = app_with(&["qbench-a", "qflow-a"]).await;
    let svc = app.service(&["*"]).await;
    svc.get(&token_path("qbench-a"), 200).await;
    svc.get(&token_path("qflow-a"), 200).await;
}

#[tokio::test]
async fn removed_grant_is_403_at_once() {
    let (app, _qubs) = app_with(&["qubs-main"]).await;
    app.admin.create_principal("billing", "service").await;
    app.admin.put_grant("billing", "qubs-main").await;
    let svc = app.admin.with_key(&app.admin.create_key("billing").await);
    svc.get(&token_path("qubs-main"), 200).await;

    app.admin.delete_grant("billing", "qubs-main").await;
    assert_forbidden(&svc.raw(Method::GET, &token_path("qubs-main")).send().await);
    assert_forbidden(&svc.refresh_resp("qubs-main", Some("whatever")).await);
}

#[tokio::test]
async fn admin_fetches_any_token_without_grants() {
    let (app, qubs) = app_with(&["qubs-main", "qflow-a"]).await;
    let body = app.admin.get(&token_path("qflow-a"), 200).await;
    assert_eq!(body["access_token"], qubs.current_token().as_str());
    app.admin.get(&token_path("qubs-main"), 200).await;
}
