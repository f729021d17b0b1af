//! Principals, their API keys and grants (admin).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::extract::{json_body, optional_json_body};
use super::params::{GrantPath, KeyPath, PrincipalPath};
use super::responses::{
    AuthProblems, ConflictProblem, InvalidProblems, NotFoundProblem, TooLargeProblem, UnavailableProblem,
    ValidationProblem,
};
use super::views::{GrantList, KeyCreated, KeyList, PrincipalList, PrincipalView};
use crate::auth::Caller;
use crate::domain::{GrantChange, Role};
use crate::ids::{GrantPattern, PrincipalId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_principal, list_principals))
        .routes(routes!(get_principal, delete_principal))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(list_grants))
        .routes(routes!(put_grant, delete_grant))
}

fn principal_id(raw: &str) -> Result<PrincipalId, ApiError> {
    PrincipalId::parse("id", raw).map_err(|_| ApiError::not_found("principal"))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// `^[a-z0-9][a-z0-9._-]{0,62}$`.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    pub id: String,
    pub role: Role,
    /// Free text (no NUL characters).
    #[serde(default)]
    #[schema(pattern = "^[^\\u0000]*$")]
    pub description: String,
}

#[utoipa::path(post, path = "/v1/principals", tag = "principals", request_body = CreatePrincipal,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created", body = PrincipalView),
        AuthProblems, InvalidProblems, ConflictProblem, TooLargeProblem, UnavailableProblem,
    ))]
async fn create_principal(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<PrincipalView>), ApiError> {
    caller.require_admin()?;
    let req: CreatePrincipal = json_body(&headers, &body)?;
    let id = PrincipalId::parse("id", &req.id)?;
    let record = state.admin.create_principal(caller.principal(), &id, req.role, &req.description).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

#[utoipa::path(get, path = "/v1/principals", tag = "principals", security(("api_key" = [])),
    responses(
        (status = 200, description = "Every principal", body = PrincipalList),
        AuthProblems, UnavailableProblem,
    ))]
async fn list_principals(State(state): State<AppState>, caller: Caller) -> Result<Json<PrincipalList>, ApiError> {
    caller.require_admin()?;
    let principals = state.admin.list_principals().await?.into_iter().map(Into::into).collect();
    Ok(Json(PrincipalList { principals }))
}

#[utoipa::path(get, path = "/v1/principals/{id}", tag = "principals", security(("api_key" = [])),
    params(PrincipalPath),
    responses(
        (status = 200, description = "The principal", body = PrincipalView),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn get_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PrincipalView>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.admin.get_principal(&principal_id(&id)?).await?.into()))
}

/// Delete a principal; its keys and grants go with it.
#[utoipa::path(delete, path = "/v1/principals/{id}", tag = "principals", security(("api_key" = [])),
    params(PrincipalPath),
    responses(
        (status = 204, description = "Deleted, with its keys and grants"),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn delete_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state.admin.delete_principal(caller.principal(), &principal_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// When the key stops working (RFC 3339, in the future); never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Issue an API key. The key is in this answer only; the broker keeps its SHA-256. The body is
/// optional: no body, `null` and `{}` all issue a key that never expires.
#[utoipa::path(post, path = "/v1/principals/{id}/keys", tag = "principals",
    request_body(content = Option<CreateKey>, content_type = "application/json",
        description = "Optional: no body and `null` are the same as `{}`"),
    security(("api_key" = [])),
    params(PrincipalPath),
    responses(
        (status = 201, description = "The new key, shown this once", body = KeyCreated),
        AuthProblems, NotFoundProblem, InvalidProblems, TooLargeProblem, UnavailableProblem,
    ))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<KeyCreated>), ApiError> {
    caller.require_admin()?;
    let id = principal_id(&id)?;
    let req: Option<CreateKey> = optional_json_body(&headers, &body)?;
    let issued = state.admin.create_key(caller.principal(), &id, req.and_then(|r| r.expires_at)).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyCreated {
            key_id: issued.record.key_id,
            api_key: issued.secret.expose_secret().to_owned(),
            created_at: issued.record.created_at,
            expires_at: issued.record.expires_at,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/principals/{id}/keys", tag = "principals", security(("api_key" = [])),
    params(PrincipalPath),
    responses(
        (status = 200, description = "The principal's keys, without their secrets", body = KeyList),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    caller.require_admin()?;
    let keys = state.admin.list_keys(&principal_id(&id)?).await?.into_iter().map(Into::into).collect();
    Ok(Json(KeyList { keys }))
}

/// Revoke a key: it stops working at once. Revoking a revoked key is a no-op.
#[utoipa::path(delete, path = "/v1/principals/{id}/keys/{key_id}", tag = "principals", security(("api_key" = [])),
    params(KeyPath),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = principal_id(&id)?;
    if !crate::auth::is_key_id(&key_id) {
        // A key id this broker cannot have issued names no key.
        return Err(ApiError::not_found("api key"));
    }
    state.admin.revoke_key(caller.principal(), &id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/principals/{id}/grants", tag = "principals", security(("api_key" = [])),
    params(PrincipalPath),
    responses(
        (status = 200, description = "The principal's grants, sorted", body = GrantList),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<GrantList>, ApiError> {
    caller.require_admin()?;
    let grants = state.admin.list_grants(&principal_id(&id)?).await?.iter().map(|g| g.as_str().to_owned()).collect();
    Ok(Json(GrantList { grants }))
}

/// Let the principal fetch tokens of a connection id, or of every id starting with a prefix (`qbench-*`).
#[utoipa::path(put, path = "/v1/principals/{id}/grants/{pattern}", tag = "principals", security(("api_key" = [])),
    params(GrantPath),
    responses(
        (status = 204, description = "Granted (idempotent)"),
        AuthProblems, NotFoundProblem, ValidationProblem, UnavailableProblem,
    ))]
async fn put_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, pattern)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    change_grant(&state, &caller, &id, &pattern, GrantChange::Put).await
}

#[utoipa::path(delete, path = "/v1/principals/{id}/grants/{pattern}", tag = "principals", security(("api_key" = [])),
    params(GrantPath),
    responses(
        (status = 204, description = "Removed (idempotent)"),
        AuthProblems, NotFoundProblem, ValidationProblem, UnavailableProblem,
    ))]
async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, pattern)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    change_grant(&state, &caller, &id, &pattern, GrantChange::Delete).await
}

async fn change_grant(
    state: &AppState,
    caller: &Caller,
    id: &str,
    pattern: &str,
    change: GrantChange,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = principal_id(id)?;
    let pattern = GrantPattern::parse(pattern)?;
    state.admin.change_grant(caller.principal(), change, &id, &pattern).await?;
    Ok(StatusCode::NO_CONTENT)
}
