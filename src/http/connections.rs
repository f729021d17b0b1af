//! Connections (admin): create, list, read, change, replace secrets, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::extract::json_body;
use super::responses::{AuthProblems, ConflictProblem, InvalidProblems, NotFoundProblem};
use super::tokens::connection_id;
use super::views::{ConnectionList, ConnectionView};
use crate::admin::{ConnectionPatch, NewConnectionRequest};
use crate::auth::Caller;
use crate::domain::ConnectionStatus;
use crate::validation::ValidationErrors;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_connection, list_connections))
        .routes(routes!(get_connection, update_connection, delete_connection))
        .routes(routes!(replace_secrets))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `^[a-z0-9][a-z0-9._-]{0,62}$`, chosen by the admin.
    id: String,
    /// `qubs`, `qbench`, `cubu`, `quiqup`, `qflow` or `oauth2` (see `GET /v1/providers`).
    provider: String,
    #[serde(default)]
    description: String,
    /// What is not secret: client_id, URLs, tenant, scope… per provider.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    config: Value,
    /// What is secret: client_secret, password, subscription_key, refresh_token, private_key.
    #[serde(default)]
    #[schema(value_type = Object)]
    secrets: Map<String, Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Register a vendor account. Config and secrets are checked against the provider's fields.
#[utoipa::path(post, path = "/v1/connections", tag = "connections", request_body = CreateConnection,
    security(("api_key" = [])),
    responses(
        (status = 201, body = ConnectionView),
        AuthProblems, InvalidProblems, ConflictProblem,
    ))]
async fn create_connection(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    caller.require_admin()?;
    let req: CreateConnection = json_body(&headers, &body)?;
    let record = state
        .admin
        .create_connection(
            &caller.principal,
            NewConnectionRequest {
                id: req.id,
                provider: req.provider,
                description: req.description,
                config: req.config,
                secrets: req.secrets,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

#[utoipa::path(get, path = "/v1/connections", tag = "connections", security(("api_key" = [])),
    responses(
        (status = 200, body = ConnectionList),
        AuthProblems,
    ))]
async fn list_connections(State(state): State<AppState>, caller: Caller) -> Result<Json<ConnectionList>, ApiError> {
    caller.require_admin()?;
    let connections = state.admin.list_connections().await?.into_iter().map(Into::into).collect();
    Ok(Json(ConnectionList { connections }))
}

#[utoipa::path(get, path = "/v1/connections/{id}", tag = "connections", security(("api_key" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, body = ConnectionView),
        AuthProblems, NotFoundProblem,
    ))]
async fn get_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require_admin()?;
    let id = connection_id(&id)?;
    Ok(Json(state.admin.get_connection(&id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    description: Option<String>,
    /// Config keys to set; `null` removes an optional key. A config change drops the cached token.
    #[schema(value_type = Option<Object>)]
    config: Option<Map<String, Value>>,
    /// `active` or `disabled`.
    status: Option<ConnectionStatus>,
    /// Secrets to set in the same change; `null` removes an optional one. Required — every
    /// stored secret — when the change moves where credentials are sent (a `destination` field
    /// in `GET /v1/providers`: token_url, base_url, refresh, tenant_id, environment,
    /// api_base_url…).
    #[schema(value_type = Option<Object>)]
    secrets: Option<Map<String, Value>>,
}

/// Change the description, config keys, or status (`active`/`disabled`).
#[utoipa::path(patch, path = "/v1/connections/{id}", tag = "connections", request_body = UpdateConnection,
    security(("api_key" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, body = ConnectionView),
        AuthProblems, NotFoundProblem, InvalidProblems,
    ))]
async fn update_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require_admin()?;
    let id = connection_id(&id)?;
    let req: UpdateConnection = json_body(&headers, &body)?;
    if req.status == Some(ConnectionStatus::NeedsReauth) {
        return Err(ValidationErrors::single("status", "must be active or disabled").into());
    }
    let patch = ConnectionPatch {
        description: req.description.as_deref(),
        config: req.config.as_ref(),
        status: req.status,
        secrets: req.secrets.as_ref(),
    };
    let record = state.admin.update_connection(&caller.principal, &id, patch).await?;
    Ok(Json(record.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSecrets {
    /// Secrets to set; `null` removes an optional one. Others are kept.
    #[schema(value_type = Object)]
    secrets: Map<String, Value>,
}

/// Replace the named secrets. Drops the cached token; a `needs_reauth` connection becomes `active`.
#[utoipa::path(put, path = "/v1/connections/{id}/secrets", tag = "connections", request_body = ReplaceSecrets,
    security(("api_key" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 200, body = ConnectionView),
        AuthProblems, NotFoundProblem, InvalidProblems,
    ))]
async fn replace_secrets(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require_admin()?;
    let id = connection_id(&id)?;
    let req: ReplaceSecrets = json_body(&headers, &body)?;
    let record = state.admin.replace_secrets(&caller.principal, &id, &req.secrets).await?;
    Ok(Json(record.into()))
}

#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connections", security(("api_key" = [])),
    params(("id" = String, Path, description = "Connection id")),
    responses(
        (status = 204, description = "deleted"),
        AuthProblems, NotFoundProblem,
    ))]
async fn delete_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = connection_id(&id)?;
    state.admin.delete_connection(&caller.principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
