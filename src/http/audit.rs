//! The audit trail (admin), newest first, paged by cursor.

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::params::plain_integer;
use super::responses::{AuthProblems, MalformedProblem, UnavailableProblem};
use crate::auth::Caller;
use crate::domain::{AuditFilter, AuditRecord};
use crate::ids::{ConnectionId, PrincipalId};
use crate::validation::ValidationErrors;

/// Raw strings, parsed here so that each bad value is a 400 naming its parameter.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events on this connection.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    connection_id: Option<String>,
    /// Only events by this principal.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    principal_id: Option<String>,
    /// Only events of this kind.
    #[param(value_type = Option<AuditAction>)]
    action: Option<String>,
    /// Events per page (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// Every kind of audit event (decisions.md lists what each records).
const ACTIONS: &[&str] = &[
    "principal.create",
    "principal.delete",
    "principal.bootstrap",
    "key.create",
    "key.revoke",
    "grant.put",
    "grant.delete",
    "connection.create",
    "connection.update",
    "connection.secrets.replace",
    "connection.delete",
    "connection.rekey",
    "connection.refresh",
    "token.issue",
];

/// The `action` filter's values, as a named enum in the document.
pub struct AuditAction;

impl utoipa::PartialSchema for AuditAction {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Every kind of audit event."))
            .enum_values(Some(ACTIONS.iter().copied()))
            .into()
    }
}

impl ToSchema for AuditAction {}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub principal_id: Option<String>,
    pub action: String,
    pub connection_id: Option<String>,
    pub outcome: String,
    #[schema(value_type = BTreeMap<String, serde_json::Value>)]
    pub detail: Value,
}

impl From<AuditRecord> for AuditEventView {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id.to_string(),
            at: r.at,
            principal_id: r.principal_id,
            action: r.action,
            connection_id: r.connection_id,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Admin changes, each recorded in the same transaction as the change.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery), security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of events, newest first", body = AuditPage),
        AuthProblems, MalformedProblem, UnavailableProblem,
    ))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require_admin()?;
    let bad = |field: &str, message: &str| {
        ApiError::invalid(ValidationErrors::single(field, message)).with_status(axum::http::StatusCode::BAD_REQUEST)
    };
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(l) => plain_integer(l, 500).filter(|l| *l >= 1).ok_or_else(|| bad("limit", "must be 1..=500"))?,
    };
    let before_id = q
        .cursor
        .as_deref()
        .map(|c| plain_integer(c, i64::MAX).ok_or_else(|| bad("cursor", "is not a cursor from this API")))
        .transpose()?;
    // Checked as the document states them; a value that cannot match anything (a NUL, say)
    // must not reach the database as if it could.
    let query_error = |e| ApiError::invalid(e).with_status(axum::http::StatusCode::BAD_REQUEST);
    if let Some(id) = &q.connection_id {
        ConnectionId::parse("connection_id", id).map_err(query_error)?;
    }
    if let Some(id) = &q.principal_id {
        PrincipalId::parse("principal_id", id).map_err(query_error)?;
    }
    if q.action.as_deref().is_some_and(|a| !ACTIONS.contains(&a)) {
        return Err(bad("action", "is not an audit action (see the document's AuditAction)"));
    }
    let filter = AuditFilter {
        connection_id: q.connection_id,
        principal_id: q.principal_id,
        action: q.action,
        before_id,
        limit,
    };
    let events = state.store.list_audit(&filter).await?;
    let next_cursor = (events.len() as i64 == limit).then(|| events.last().map(|e| e.id.to_string())).flatten();
    Ok(Json(AuditPage { events: events.into_iter().map(Into::into).collect(), next_cursor }))
}
