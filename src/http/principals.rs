//! Principals, their API keys and grants (admin).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::extract::{json_body, optional_json_body};
use super::responses::{AuthProblems, ConflictProblem, InvalidProblems, NotFoundProblem, ValidationProblem};
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// `^[a-z0-9][a-z0-9._-]{0,62}$`.
    id: String,
    role: Role,
    #[serde(default)]
    description: String,
}

#[utoipa::path(post, path = "/v1/principals", tag = "principals", request_body = CreatePrincipal,
    security(("api_key" = [])),
    responses(
        (status = 201, body = PrincipalView),
        AuthProblems, InvalidProblems, ConflictProblem,
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
    let record = state.admin.create_principal(&caller.principal, &id, req.role, &req.description).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

#[utoipa::path(get, path = "/v1/principals", tag = "principals", security(("api_key" = [])),
    responses(
        (status = 200, body = PrincipalList),
        AuthProblems,
    ))]
async fn list_principals(State(state): State<AppState>, caller: Caller) -> Result<Json<PrincipalList>, ApiError> {
    caller.require_admin()?;
    let principals = state.admin.list_principals().await?.into_iter().map(Into::into).collect();
    Ok(Json(PrincipalList { principals }))
}

#[utoipa::path(get, path = "/v1/principals/{id}", tag = "principals", security(("api_key" = [])),
    params(("id" = String, Path, description = "Principal id")),
    responses(
        (status = 200, body = PrincipalView),
        AuthProblems, NotFoundProblem,
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
    params(("id" = String, Path, description = "Principal id")),
    responses(
        (status = 204, description = "deleted"),
        AuthProblems, NotFoundProblem,
    ))]
async fn delete_principal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state.admin.delete_principal(&caller.principal, &principal_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// When the key stops working (RFC 3339, in the future); never when absent.
    expires_at: Option<DateTime<Utc>>,
}

/// Issue an API key. The key is in this answer only; the broker keeps its SHA-256.
#[utoipa::path(post, path = "/v1/principals/{id}/keys", tag = "principals",
    request_body(content = Option<CreateKey>, content_type = "application/json"),
    security(("api_key" = [])),
    params(("id" = String, Path, description = "Principal id")),
    responses(
        (status = 201, body = KeyCreated),
        AuthProblems, NotFoundProblem, InvalidProblems,
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
    let issued = state.admin.create_key(&caller.principal, &id, req.and_then(|r| r.expires_at)).await?;
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
    params(("id" = String, Path, description = "Principal id")),
    responses(
        (status = 200, body = KeyList),
        AuthProblems, NotFoundProblem,
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
    params(("id" = String, Path, description = "Principal id"), ("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 204, description = "revoked"),
        AuthProblems, NotFoundProblem,
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    state.admin.revoke_key(&caller.principal, &principal_id(&id)?, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/principals/{id}/grants", tag = "principals", security(("api_key" = [])),
    params(("id" = String, Path, description = "Principal id")),
    responses(
        (status = 200, body = GrantList),
        AuthProblems, NotFoundProblem,
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
    params(("id" = String, Path, description = "Principal id"), ("pattern" = String, Path, description = "Connection id or `prefix*`")),
    responses(
        (status = 204, description = "granted (idempotent)"),
        AuthProblems, NotFoundProblem, ValidationProblem,
    ))]
async fn put_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, pattern)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    change_grant(&state, &caller, &id, &pattern, GrantChange::Put).await
}

#[utoipa::path(delete, path = "/v1/principals/{id}/grants/{pattern}", tag = "principals", security(("api_key" = [])),
    params(("id" = String, Path, description = "Principal id"), ("pattern" = String, Path, description = "Connection id or `prefix*`")),
    responses(
        (status = 204, description = "removed (idempotent)"),
        AuthProblems, NotFoundProblem, ValidationProblem,
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
    state.admin.change_grant(&caller.principal, change, &id, &pattern).await?;
    Ok(StatusCode::NO_CONTENT)
}
