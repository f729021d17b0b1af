//! The contract's error shape: RFC 7807 `application/problem+json` with `type`, `title`,
//! `status`, `detail` and a stable `code`; validation errors name fields in `errors`.

use serde_json::Value;

use super::client::Resp;

/// Asserts that `resp` is the problem the contract promises and returns its body.
pub fn assert_problem(resp: &Resp, status: u16, code: &str) -> Value {
    let what = format!("{} {}", resp.method, resp.path);
    assert_eq!(resp.status, status, "{what}: expected {status} {code}, got {}; body: {}", resp.status, resp.body);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{what}: an error must be application/problem+json, got {content_type:?}; body: {}",
        resp.body
    );
    let body = resp.json();
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "{what}: problem member {member:?} missing or not a string: {body}");
    }
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status)),
        "{what}: problem `status` must repeat the HTTP status: {body}"
    );
    assert_eq!(body["code"].as_str(), Some(code), "{what}: expected code {code:?}: {body}");
    body
}

/// The fields a validation problem names.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Asserts a validation problem names `field`, with a message for it.
pub fn assert_names_field(problem: &Value, field: &str) {
    let errors = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("validation problem without an `errors` array: {problem}"));
    let entry = errors.iter().find(|e| e["field"].as_str() == Some(field)).unwrap_or_else(|| {
        panic!("validation problem should name field {field:?}, names {:?}: {problem}", error_fields(problem))
    });
    assert!(
        entry["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error entry for {field:?} needs a message: {entry}"
    );
}

/// A 422 `invalid_request` naming `field`.
pub fn assert_invalid(resp: &Resp, field: &str) -> Value {
    let problem = assert_problem(resp, 422, "invalid_request");
    assert_names_field(&problem, field);
    problem
}
