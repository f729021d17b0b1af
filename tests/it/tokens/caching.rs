//! One vendor call per token lifetime: later callers get the cached token until it expires.

use std::time::Duration;

use crate::harness::app_with_qubs;

#[tokio::test]
async fn second_call_is_served_from_cache() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let first = app.admin.access_token("qubs-main").await;
    let svc = app.service(&["qubs-main"]).await;
    let second = svc.access_token("qubs-main").await;
    assert_eq!(second, first);
    assert_eq!(qubs.calls(), 1, "a valid cached token was fetched again");
}

#[tokio::test]
async fn expired_token_is_replaced() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    qubs.set_expires_in(2);
    let first = app.admin.access_token_min_ttl("qubs-main", 0).await;
    assert_eq!(first, qubs.current_token());
    // Still valid: served from cache.
    assert_eq!(app.admin.access_token_min_ttl("qubs-main", 0).await, first);
    assert_eq!(qubs.calls(), 1);

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let second = app.admin.access_token_min_ttl("qubs-main", 0).await;
    assert_ne!(second, first, "an expired token was handed out");
    assert_eq!(second, qubs.current_token());
    assert_eq!(qubs.calls(), 2);
}
