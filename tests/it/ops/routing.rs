//! Fallbacks speak the same problem+json as everything else (decisions.md).

use reqwest::Method;

use crate::harness::{assert_problem, spawn_app};

#[tokio::test]
async fn unknown_route_is_404_not_found() {
    let app = spawn_app().await;
    let resp = app.admin.raw(Method::GET, "/v1/no-such-thing").send().await;
    assert_problem(&resp, 404, "not_found");
}

#[tokio::test]
async fn wrong_method_is_405_method_not_allowed() {
    let app = spawn_app().await;
    let resp = app.admin.raw(Method::PUT, "/v1/connections").send().await;
    assert_problem(&resp, 405, "method_not_allowed");
    // RFC 9110: a 405 names the methods the resource has (schemathesis checks it too).
    let allow = resp.header("allow").unwrap_or_else(|| panic!("405 without Allow: {}", resp.body));
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert!(methods.contains(&"GET") && methods.contains(&"POST") && !methods.contains(&"PUT"), "Allow: {allow}");
}
