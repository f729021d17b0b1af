//! The token endpoint's answer, checked member by member against the contract.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::client::Resp;

pub struct ExpectedToken<'a> {
    pub connection_id: &'a str,
    pub access_token: &'a str,
    /// The lifetime the vendor gave, in seconds; `expires_in` must be at most this and close.
    pub lifetime: i64,
    /// Exactly the `headers` object a caller must send to the vendor.
    pub headers: Map<String, Value>,
    pub api_base_url: Option<&'a str>,
}

/// Asserts a 200 token answer, `Cache-Control: no-store`, and exactly the documented members.
pub fn assert_token_answer(resp: &Resp, expected: &ExpectedToken<'_>) -> Value {
    let body = resp.expect(200);
    let cache_control = resp.header("cache-control").unwrap_or_default();
    assert!(
        cache_control.contains("no-store"),
        "a token answer must carry Cache-Control: no-store, got {cache_control:?}"
    );

    let mut members: BTreeSet<&str> =
        ["connection_id", "access_token", "token_type", "expires_at", "expires_in", "headers"].into();
    if expected.api_base_url.is_some() {
        members.insert("api_base_url");
    }
    let got: BTreeSet<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("token answer is not an object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(got, members, "token answer members (api_base_url only when configured): {body}");

    assert_eq!(body["connection_id"], expected.connection_id, "{body}");
    assert_eq!(body["access_token"], expected.access_token, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(
        body["headers"],
        Value::Object(expected.headers.clone()),
        "headers must be exactly what the vendor's API needs"
    );
    if let Some(url) = expected.api_base_url {
        assert_eq!(body["api_base_url"], url, "{body}");
    }

    let expires_in = body["expires_in"]
        .as_i64()
        .unwrap_or_else(|| panic!("expires_in must be an integer number of seconds: {body}"));
    assert!(
        expires_in <= expected.lifetime && expires_in >= expected.lifetime - 10,
        "expires_in {expires_in} should be the vendor's lifetime {} less the time since: {body}",
        expected.lifetime
    );
    let expires_at = parse_time(&body["expires_at"]);
    let left = (expires_at - Utc::now()).num_seconds();
    assert!((left - expires_in).abs() <= 2, "expires_at ({expires_at}) and expires_in ({expires_in}) disagree: {body}");
    body
}

/// `Authorization: Bearer <token>` plus `extra`, as a JSON object.
pub fn bearer_headers(token: &str, extra: &[(&str, &str)]) -> Map<String, Value> {
    let mut headers = Map::new();
    headers.insert("Authorization".into(), Value::from(format!("Bearer {token}")));
    for (name, value) in extra {
        headers.insert((*name).into(), Value::from(*value));
    }
    headers
}

pub fn parse_time(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("expected an RFC 3339 timestamp, got {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}")).with_timezone(&Utc)
}
