//! Handing out tokens: the hot path.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::extract::optional_json_body;
use super::params::{ConnectionPath, TokenQuery, plain_integer};
use super::responses::{
    AuthProblems, InvalidProblems, MalformedProblem, NotFoundProblem, TokenProblems, TooLargeProblem,
};
use super::views::TokenResponse;
use crate::auth::Caller;
use crate::ids::ConnectionId;
use crate::tokens::{IssuedToken, TokenError, Want};
use crate::validation::ValidationErrors;

const DEFAULT_MIN_TTL: i64 = 60;
const MAX_MIN_TTL: i64 = 86_400;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_token)).routes(routes!(refresh_token))
}

/// A path id that cannot be valid names no connection.
pub(super) fn connection_id(raw: String) -> Result<ConnectionId, ApiError> {
    ConnectionId::parse_owned("id", raw).map_err(|_| ApiError::not_found("connection"))
}

/// A current access token for the connection, with at least `min_ttl` seconds left (see the
/// contract for the half-lifetime exception). Many concurrent callers cause one vendor call.
#[utoipa::path(
    get,
    path = "/v1/connections/{id}/token",
    tag = "tokens",
    params(ConnectionPath, TokenQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A token with at least `min_ttl` seconds left", body = TokenResponse,
            headers(("Cache-Control" = String, description = "no-store"))),
        AuthProblems, NotFoundProblem, MalformedProblem, TokenProblems,
    ),
)]
async fn get_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = connection_id(id)?;
    caller.require_token_access(&id)?;
    let min_ttl = min_ttl(query.as_deref())?;
    let token = counted(state.tokens.token(&id, Want::Fresh { min_ttl }).await)?;
    Ok(answer(&state, &caller, token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The token the vendor rejected. Without it (or `null`), only an admin may force a refresh.
    #[schema(value_type = Option<String>, pattern = "^[^\\u0000]*$")]
    rejected_access_token: Option<SecretString>,
}

/// Report a token the vendor rejected: if it is still current the broker gets a new one, else
/// it answers the current one without calling the vendor. Without `rejected_access_token`,
/// an admin forces a refresh. The body is optional: no body, `null` and `{}` all mean "no
/// `rejected_access_token`".
#[utoipa::path(
    post,
    path = "/v1/connections/{id}/token/refresh",
    tag = "tokens",
    params(ConnectionPath),
    request_body(content = Option<RefreshRequest>, content_type = "application/json",
        description = "Optional: no body and `null` are the same as `{}`"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The current token: a new one if the rejected token was still current", body = TokenResponse,
            headers(("Cache-Control" = String, description = "no-store"))),
        AuthProblems, NotFoundProblem, InvalidProblems, TooLargeProblem, TokenProblems,
    ),
)]
async fn refresh_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = connection_id(id)?;
    caller.require_token_access(&id)?;
    let request: Option<RefreshRequest> = optional_json_body(&headers, &body)?;
    let Some(rejected) = request.and_then(|r| r.rejected_access_token) else {
        caller.require_admin()?;
        let result = counted(state.admin.force_refresh(caller.principal(), &id).await);
        return Ok(answer(&state, &caller, result?));
    };
    let token = counted(state.tokens.token(&id, Want::ReplaceIfCurrent(rejected)).await)?;
    Ok(answer(&state, &caller, token))
}

/// The token service's answer, its failures mapped to the contract and counted by code.
fn counted(result: Result<IssuedToken, TokenError>) -> Result<IssuedToken, ApiError> {
    result.map_err(ApiError::from).inspect_err(super::metrics::count_token_error)
}

fn min_ttl(query: Option<&str>) -> Result<i64, ApiError> {
    let raw = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "min_ttl")
        .map(|(_, v)| v.into_owned());
    let Some(raw) = raw else { return Ok(DEFAULT_MIN_TTL) };
    match plain_integer(&raw, MAX_MIN_TTL) {
        Some(v) => Ok(v),
        None => {
            let errors = ValidationErrors::single("min_ttl", format!("must be a whole number from 0 to {MAX_MIN_TTL}"));
            let mut err = ApiError::invalid(errors);
            err = err.with_status(axum::http::StatusCode::BAD_REQUEST);
            Err(err)
        }
    }
}

fn answer(state: &AppState, caller: &Caller, token: IssuedToken) -> Response {
    tracing::debug!(connection = %token.connection_id, principal = %caller.principal(), "token handed out");
    // One clock reading for the tally and for `expires_in`.
    let now = crate::tokens::now_ms();
    state.usage.record(caller.principal(), &token.connection_id, now);
    let Some(body) = body(&token, now) else { return ApiError::internal().into_response() };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// The `TokenResponse` JSON: the token's fixed part, with `expires_in` as of now.
fn body(token: &IssuedToken, now: crate::tokens::UnixMs) -> Option<Vec<u8>> {
    let fixed = rendered(token)?.expose_secret();
    let mut seconds = itoa::Buffer::new();
    let expires_in = seconds.format(token.lifetime.seconds_left(now));
    // The fixed part ends with its object's `}`: `expires_in` goes in before it.
    let mut body = Vec::with_capacity(fixed.len() + EXPIRES_IN.len() + expires_in.len());
    body.extend_from_slice(&fixed[..fixed.len() - 1]);
    body.extend_from_slice(EXPIRES_IN);
    body.extend_from_slice(expires_in.as_bytes());
    body.push(b'}');
    Some(body)
}

const EXPIRES_IN: &[u8] = b",\"expires_in\":";

/// The token's answer without `expires_in` (the only field that changes while it is cached),
/// serialized on its first hand-out and kept with it.
fn rendered(token: &IssuedToken) -> Option<&SecretSlice<u8>> {
    if let Some(fixed) = token.rendered.get() {
        return Some(fixed);
    }
    let fixed = Fixed {
        connection_id: token.connection_id.as_str(),
        access_token: token.access_token.expose_secret(),
        token_type: &token.token_type,
        expires_at: token.expires_at,
        headers: Headers(&token.headers),
        api_base_url: token.api_base_url.as_deref(),
    };
    let bytes = serde_json::to_vec(&fixed).ok().filter(|b| b.ends_with(b"}"))?;
    // Another hand-out may have rendered it meanwhile: both are the same bytes.
    Some(token.rendered.get_or_init(|| SecretSlice::from(bytes)))
}

/// `TokenResponse` (the documented shape) but `expires_in`, borrowed from the cached answer.
#[derive(Serialize)]
struct Fixed<'a> {
    connection_id: &'a str,
    access_token: &'a str,
    token_type: &'a str,
    expires_at: DateTime<Utc>,
    headers: Headers<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_base_url: Option<&'a str>,
}

/// The handed-out headers as a JSON object, in the order the answer keeps them.
struct Headers<'a>(&'a [(String, SecretString)]);

impl Serialize for Headers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value.expose_secret())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests;
