//! `POST …/token/refresh`: a caller reports a token the vendor rejected. Only if that token is
//! still current does the broker fetch a new one; a stale report gets the current token.

use crate::auth::assert_forbidden;
use crate::harness::app_with_qubs;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};

#[tokio::test]
async fn rejecting_the_current_token_gets_a_new_one() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let first = svc.access_token("qubs-main").await;

    let resp = svc.refresh_resp("qubs-main", Some(&first)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let second = qubs.current_token();
    assert_ne!(second, first);
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "qubs-main",
            access_token: &second,
            lifetime: 3600,
            headers: bearer_headers(&second, &[("Accept", "application/json")]),
            api_base_url: None,
        },
    );
    assert_eq!(qubs.calls(), 2, "one vendor call for the refresh");
    assert_eq!(svc.access_token("qubs-main").await, second, "GET serves the new token");
    assert_eq!(qubs.calls(), 2);
}

#[tokio::test]
async fn rejecting_a_stale_token_returns_the_current_one_without_a_vendor_call() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let first = svc.access_token("qubs-main").await;
    let second = svc.refresh("qubs-main", Some(&first)).await;
    assert_eq!(qubs.calls(), 2);

    // A second caller saw the same old token rejected: the new one is already there.
    assert_eq!(svc.refresh("qubs-main", Some(&first)).await, second);
    assert_eq!(svc.refresh("qubs-main", Some("never-issued")).await, second);
    assert_eq!(qubs.calls(), 2, "a stale rejection made the broker call the vendor");
}

#[tokio::test]
async fn rejection_before_any_token_gets_a_first_token() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let token = svc.refresh("qubs-main", Some("from-another-life")).await;
    assert_eq!(token, qubs.current_token());
    assert_eq!(qubs.calls(), 1);
}

#[tokio::test]
async fn forced_refresh_without_a_token_is_for_admins_only() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let first = svc.access_token("qubs-main").await;

    assert_forbidden(&svc.refresh_resp("qubs-main", None).await);
    assert_eq!(qubs.calls(), 1, "a refused refresh called the vendor");

    let forced = app.admin.refresh("qubs-main", None).await;
    assert_ne!(forced, first, "an admin's forced refresh must get a new token");
    assert_eq!(forced, qubs.current_token());
    assert_eq!(qubs.calls(), 2);
    assert_eq!(svc.access_token("qubs-main").await, forced);
}
