//! Request extractors: the caller from `Authorization: Bearer`, and JSON bodies whose errors
//! name the offending field.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, request::Parts};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth::{AuthError, Caller, Source};
use crate::validation::ValidationErrors;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Never echo or log the header: it is a credential even when malformed.
        let value = parts.headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let Some(key) = bearer(value) else {
            return Err(state.auth.failed_attempt(peer.map_or_else(Source::unknown, Source::of)).into());
        };
        if key.is_empty() {
            return Err(AuthError::Missing.into());
        }
        Ok(state.auth.authenticate(&state.store, key, peer).await?)
    }
}

/// The key in `Bearer <key>` (any case, spaces around it ignored); `Bearer` and nothing else
/// is an empty key (a shell variable that was empty, not a wrong key).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let (scheme, rest) = value.to_str().ok()?.trim().split_at_checked(BEARER.len())?;
    if !scheme.eq_ignore_ascii_case(BEARER) {
        return None;
    }
    match rest.as_bytes().first() {
        None => Some(""),
        Some(b' ') => Some(rest.trim_start()),
        Some(_) => None,
    }
}

const BEARER: &str = "bearer";

/// Parses a JSON body: 400 when it is not JSON, 422 naming the field when a member is wrong.
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::bad_request("Content-Type must be application/json"));
    }
    Ok(parse_json(body)?)
}

/// Why a JSON document was refused.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all (400).
    #[error("body is not valid JSON ({0})")]
    NotJson(String),
    /// JSON, with a member that is wrong (422, named).
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

/// Reads a JSON document into `T` as the server reads a request body, naming the offending
/// field and never repeating its value. The admin CLI checks its `--file` bodies with it, so
/// both ends name the same field in the same words.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    // serde_json's syntax errors name a line and column, never the text there.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    if let Some(field) = nul_inside(&value, String::new()) {
        // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        return Err(ValidationErrors::single(field, "must not contain NUL characters").into());
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = without_values(&err.into_inner().to_string());
        ValidationErrors::single(field_of(&path, &message), message).into()
    })
}

/// serde quotes the offending value in type errors (`invalid type: string "…", expected a
/// map`): keep only what was expected, since that value may be a secret.
fn without_values(message: &str) -> String {
    match message.split_once(", expected ") {
        Some((kind, expected)) if kind.starts_with("invalid type") || kind.starts_with("invalid value") => {
            format!("wrong type, expected {expected}")
        }
        _ => message.to_owned(),
    }
}

/// The path of the first string (or member name) holding a NUL character.
fn nul_inside(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(if path.is_empty() { ".".into() } else { path }),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| nul_inside(v, join(&i.to_string())))
        }
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') { Some(join(&k.replace('\0', ""))) } else { nul_inside(v, join(k)) }
        }),
        _ => None,
    }
}

/// Like [`json_body`], but an empty body or JSON `null` means `None`: an optional body may be
/// left out either way, as the document says.
pub fn optional_json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    json_body(headers, body)
}

/// The field a serde error is about: missing members are reported at their parent.
fn field_of(path: &str, message: &str) -> String {
    let member = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, member) {
        (".", Some(m)) => m.to_owned(),
        // Unknown members are already at their own path; missing ones at their parent's.
        (p, Some(m)) if p == m || p.ends_with(&format!(".{m}")) => p.to_owned(),
        (p, Some(m)) => format!("{p}.{m}"),
        (p, None) => p.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_member_itself() {
        assert_eq!(field_of("extra", "unknown field `extra`, expected one of `id`"), "extra");
        assert_eq!(field_of(".", "missing field `id`"), "id");
        assert_eq!(field_of("config", "missing field `x`"), "config.x");
        assert_eq!(field_of("role", "unknown variant `boss`"), "role");
    }

    #[test]
    fn type_errors_do_not_repeat_the_value() {
        let message = r#"invalid type: string "s3cr3t", expected a map"#;
        assert_eq!(without_values(message), "wrong type, expected a map");
        assert!(nul_inside(&serde_json::json!({"a": {"b": "x\0"}}), String::new()).is_some_and(|f| f == "a.b"));
        assert_eq!(nul_inside(&serde_json::json!({"a": ["ok"]}), String::new()), None);
    }

    #[test]
    fn the_bearer_scheme_in_any_case_with_spaces_around_the_key() {
        let key = |raw: &'static str| bearer(&HeaderValue::from_static(raw)).map(str::to_owned);
        assert_eq!(key("Bearer tb_k").as_deref(), Some("tb_k"));
        assert_eq!(key("  bEARER   tb_k  ").as_deref(), Some("tb_k"));
        assert_eq!(key("Bearer").as_deref(), Some(""), "an empty key, not a wrong scheme");
        assert_eq!(key("bearer   ").as_deref(), Some(""));
        for wrong in ["Basic dXNlcg==", "Bearerx tb_k", "Bearer\ttb_k", "Bear", "", "tb_k"] {
            assert_eq!(key(wrong), None, "{wrong:?}");
        }
    }
}
