//! Connections (admin): create, list, read, change, replace secrets, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::extract::json_body;
use super::params::ConnectionPath;
use super::responses::{
    AuthProblems, ConflictProblem, InvalidProblems, NotFoundProblem, TooLargeProblem, UnavailableProblem,
};
use super::tokens::connection_id;
use super::views::{ConnectionList, ConnectionView};
use crate::admin::{ConnectionPatch, NewConnectionRequest};
use crate::auth::Caller;
use crate::domain::ConnectionStatus;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_connection, list_connections))
        .routes(routes!(get_connection, update_connection, delete_connection))
        .routes(routes!(replace_secrets))
}

// The admin CLI reads its `--file` bodies into this type too, so both ends parse one type.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// `^[a-z0-9][a-z0-9._-]{0,62}$`, chosen by the admin.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    id: String,
    /// One of `GET /v1/providers`' names.
    provider: String,
    /// Free text (no NUL characters).
    #[serde(default)]
    #[schema(pattern = "^[^\\u0000]*$")]
    description: String,
    /// What is not secret: client_id, URLs, tenant, scope… per provider.
    #[serde(default = "empty_object")]
    #[schema(value_type = BTreeMap<String, serde_json::Value>)]
    config: Value,
    /// What is secret: client_secret, password, subscription_key, refresh_token, private_key.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    secrets: Map<String, Value>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Register a vendor account. Config and secrets are checked against the provider's fields
/// (`GET /v1/providers`) and its rules that a schema cannot state (which fields go together,
/// vendor URLs that must be public `https://` ones unless the broker allows otherwise): 422
/// names every field that breaks one.
#[utoipa::path(post, path = "/v1/connections", tag = "connections", request_body = CreateConnection,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Created; the view holds secret names, never values", body = ConnectionView),
        AuthProblems, InvalidProblems, ConflictProblem, TooLargeProblem, UnavailableProblem,
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
            caller.principal(),
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
        (status = 200, description = "Every connection", body = ConnectionList),
        AuthProblems, UnavailableProblem,
    ))]
async fn list_connections(State(state): State<AppState>, caller: Caller) -> Result<Json<ConnectionList>, ApiError> {
    caller.require_admin()?;
    let connections = state.admin.list_connections().await?.into_iter().map(Into::into).collect();
    Ok(Json(ConnectionList { connections }))
}

#[utoipa::path(get, path = "/v1/connections/{id}", tag = "connections", security(("api_key" = [])),
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection", body = ConnectionView),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn get_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require_admin()?;
    let id = connection_id(id)?;
    Ok(Json(state.admin.get_connection(&id).await?.into()))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnection {
    /// Free text (no NUL characters); absent or `null` keeps it.
    #[schema(pattern = "^[^\\u0000]*$")]
    description: Option<String>,
    /// Config keys to set; `null` removes an optional key. A config change drops the cached token.
    /// Absent or `null`: config unchanged.
    #[schema(value_type = Option<BTreeMap<String, serde_json::Value>>)]
    config: Option<Map<String, Value>>,
    /// Absent or `null`: status unchanged. `needs_reauth` is the broker's to set, never an admin's.
    status: Option<StatusChange>,
    /// Secrets to set in the same change; `null` removes an optional one. Required — every
    /// stored secret — when the change moves where credentials are sent (a `destination` field
    /// in `GET /v1/providers`: token_url, base_url, refresh, tenant_id, environment,
    /// api_base_url…). Absent or `null`: secrets unchanged.
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    secrets: Option<Map<String, Value>>,
}

/// The statuses an admin may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    Active,
    Disabled,
}

impl From<StatusChange> for ConnectionStatus {
    fn from(status: StatusChange) -> Self {
        match status {
            StatusChange::Active => ConnectionStatus::Active,
            StatusChange::Disabled => ConnectionStatus::Disabled,
        }
    }
}

/// Change the description, config keys, or status (`active`/`disabled`). Config is checked as
/// on create: 422 names every field that breaks the provider's rules.
#[utoipa::path(patch, path = "/v1/connections/{id}", tag = "connections", request_body = UpdateConnection,
    security(("api_key" = [])),
    params(ConnectionPath),
    responses(
        (status = 200, description = "The changed connection", body = ConnectionView),
        AuthProblems, NotFoundProblem, InvalidProblems, TooLargeProblem, UnavailableProblem,
    ))]
async fn update_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require_admin()?;
    let id = connection_id(id)?;
    let req: UpdateConnection = json_body(&headers, &body)?;
    let patch = ConnectionPatch {
        description: req.description.as_deref(),
        config: req.config.as_ref(),
        status: req.status.map(Into::into),
        secrets: req.secrets.as_ref(),
    };
    let record = state.admin.update_connection(caller.principal(), &id, patch).await?;
    Ok(Json(record.into()))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSecrets {
    /// Secrets to set; `null` removes an optional one. Others are kept.
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub secrets: Map<String, Value>,
}

/// Replace the named secrets. Drops the cached token; a `needs_reauth` connection becomes `active`.
/// Names and values are checked against the provider's secrets: 422 names each bad one.
#[utoipa::path(put, path = "/v1/connections/{id}/secrets", tag = "connections", request_body = ReplaceSecrets,
    security(("api_key" = [])),
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection, with the new secret names", body = ConnectionView),
        AuthProblems, NotFoundProblem, InvalidProblems, TooLargeProblem, UnavailableProblem,
    ))]
async fn replace_secrets(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ConnectionView>, ApiError> {
    caller.require_admin()?;
    let id = connection_id(id)?;
    let req: ReplaceSecrets = json_body(&headers, &body)?;
    let record = state.admin.replace_secrets(caller.principal(), &id, &req.secrets).await?;
    Ok(Json(record.into()))
}

#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connections", security(("api_key" = [])),
    params(ConnectionPath),
    responses(
        (status = 204, description = "Deleted"),
        AuthProblems, NotFoundProblem, UnavailableProblem,
    ))]
async fn delete_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = connection_id(id)?;
    state.admin.delete_connection(caller.principal(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
