//! `min_ttl`: the token handed out has at least that many seconds left, except that a token
//! younger than half its lifetime is never replaced just for `min_ttl`.

use std::time::Duration;

use crate::harness::{app_with_qubs, assert_names_field, assert_problem};

#[tokio::test]
async fn young_token_is_not_replaced_to_satisfy_min_ttl() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let first = app.admin.access_token("qubs-main").await;
    // 3600 s left, 86400 asked: no vendor can do better than a fresh token.
    let again = app.admin.access_token_min_ttl("qubs-main", 86_400).await;
    assert_eq!(again, first);
    assert_eq!(qubs.calls(), 1, "a token younger than half its lifetime was replaced");
}

#[tokio::test]
async fn token_past_half_its_life_is_replaced_when_min_ttl_needs_it() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    qubs.set_expires_in(4);
    let first = app.admin.access_token_min_ttl("qubs-main", 60).await;
    // Young (under 2 s old): kept even though 60 s are asked for.
    assert_eq!(app.admin.access_token_min_ttl("qubs-main", 60).await, first);
    assert_eq!(qubs.calls(), 1);

    // Past half its life, about 1.7 s left.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(app.admin.access_token_min_ttl("qubs-main", 0).await, first, "min_ttl=0 accepts any unexpired token");
    assert_eq!(qubs.calls(), 1);
    let second = app.admin.access_token_min_ttl("qubs-main", 3).await;
    assert_ne!(second, first, "a token with under 3 s left was handed out for min_ttl=3");
    assert_eq!(second, qubs.current_token());
    assert_eq!(qubs.calls(), 2);
}

#[tokio::test]
async fn min_ttl_must_be_an_integer_from_0_to_86400() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    for bad in ["-1", "abc", "1.5", "86401", "1e3"] {
        let resp = app.admin.token_resp("qubs-main", Some(bad)).await;
        let problem = assert_problem(&resp, 400, "invalid_request");
        assert_names_field(&problem, "min_ttl");
    }
    assert_eq!(qubs.calls(), 0, "an invalid request reached the vendor");
    for good in ["0", "86400", "60"] {
        app.admin.token_resp("qubs-main", Some(good)).await.expect(200);
    }
}
