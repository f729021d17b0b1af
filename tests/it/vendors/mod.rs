//! The provider engine and the five vendor presets (issue 3), each against a fake that
//! enforces its vendor's documented rules (as the vendors publish them; the README's *Vendors* section sums them up): the exact
//! answer, caching, renewal through the vendor's own path, its errors mapped to the contract,
//! and the fields a create needs. A single-use refresh token presented twice fails the test
//! (the fakes check on drop).

mod cubu;
mod oauth2;
mod providers;
mod qbench;
mod qflow;
mod qubs;
mod quiqup;

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::fakes::vendor::VendorState;
use crate::harness::client::Resp;
use crate::harness::leaks::{Haystack, Needle, find};
use crate::harness::{TestApp, assert_invalid, assert_problem, spawn_app_with};
use crate::vendor_errors::assert_last_error;

/// Lifetime, in seconds, of the tokens a fake issues when a test wants to see them renewed.
/// Such a token is young, so served from the cache whatever `min_ttl` asks, for about its
/// first two seconds (the broker counts whole seconds): room for a slow machine between two
/// requests that expect the same token.
pub const SHORT_LIFETIME: i64 = 3;

/// A broker without refresh-ahead: these tests count vendor calls, and a background refresh
/// would make the count depend on timing.
pub async fn spawn() -> TestApp {
    spawn_app_with(|env| env.extra.push(("TOKENBROKER_REFRESH_AHEAD_SECS".into(), "0".into()))).await
}

/// Waits until a `SHORT_LIFETIME` token is past half its life with under a second left, so that
/// the default `min_ttl` (60 s) makes the broker renew it.
pub async fn past_half_life() {
    tokio::time::sleep(Duration::from_millis(2100)).await;
}

/// The fake's latest access token, once `resp` is known to be a 200 (else the broker's error
/// is what the failure shows).
pub fn served(resp: &Resp, vendor: &VendorState) -> String {
    assert_eq!(resp.status, 200, "{} {}: {}", resp.method, resp.path, resp.body);
    vendor.current_token()
}

/// 502 `vendor_rejected` whose `detail` carries each of `codes` and none of `never` (secrets,
/// the vendor's free text); the connection's `last_error` says the same.
pub async fn assert_rejected(app: &TestApp, id: &str, resp: &Resp, codes: &[&str], never: &[&str]) -> String {
    let problem = assert_problem(resp, 502, "vendor_rejected");
    let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
    for code in codes {
        assert!(detail.contains(code), "detail should carry the vendor's code {code:?}: {problem}");
    }
    let last_error = assert_last_error(app, id, "vendor_rejected").await;
    for code in codes {
        assert!(last_error["detail"].as_str().unwrap_or_default().contains(code), "last_error: {last_error}");
    }
    for text in never {
        assert!(!resp.body.contains(text), "the answer repeats {text:?}: {}", resp.body);
        assert!(!last_error.to_string().contains(text), "last_error repeats {text:?}: {last_error}");
    }
    detail
}

/// No broker log line contains any of `needles`.
pub fn assert_not_logged(app: &TestApp, needles: &[Needle]) {
    let logs: Vec<Haystack> = app
        .log_lines()
        .into_iter()
        .enumerate()
        .map(|(i, line)| Haystack { place: format!("log line {i}"), text: line.text })
        .collect();
    let found = find(needles, &logs);
    assert!(found.is_empty(), "{found:#?}");
}

/// The provider's entry in `GET /v1/providers`.
pub async fn provider(app: &TestApp, name: &str) -> Value {
    let list = app.admin.get("/v1/providers", 200).await;
    let providers = list["providers"].as_array().unwrap_or_else(|| panic!("{{\"providers\": […]}} expected: {list}"));
    providers
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("GET /v1/providers does not list {name}: {list}"))
}

/// Every field `GET /v1/providers` marks required for the provider of `valid` is required by a
/// create, and unknown config and secret names are refused: each a 422 naming the field, with
/// nothing created.
pub async fn assert_required_and_unknown_fields(app: &TestApp, valid: &Value) {
    let name = valid["provider"].as_str().expect("provider");
    let def = provider(app, name).await;
    let mut cases: Vec<(Value, String)> = Vec::new();
    for (part, fields) in [("config", &def["config"]), ("secrets", &def["secrets"])] {
        let fields = fields.as_array().unwrap_or_else(|| panic!("{name}: {part} is not a list: {def}"));
        for field in fields.iter().filter(|f| f["required"] == true) {
            let field = field["name"].as_str().expect("field name");
            let mut body = valid.clone();
            body[part].as_object_mut().expect("object").remove(field);
            cases.push((body, format!("{part}.{field}")));
        }
        let mut body = valid.clone();
        body[part]["colour"] = Value::from("blue");
        cases.push((body, format!("{part}.colour")));
    }
    for (body, field) in cases {
        let resp = app.admin.raw(Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, &field);
    }
    let id = valid["id"].as_str().expect("id");
    app.admin.get(&format!("/v1/connections/{id}"), 404).await;
}
