//! The audit trail (admin), newest first, paged by cursor.

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::ApiError;
use super::responses::{AuthProblems, MalformedProblem};
use crate::auth::Caller;
use crate::domain::{AuditFilter, AuditRecord};
use crate::validation::ValidationErrors;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    connection_id: Option<String>,
    principal_id: Option<String>,
    action: Option<String>,
    /// 1..=500, default 100.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub principal_id: Option<String>,
    pub action: String,
    pub connection_id: Option<String>,
    pub outcome: String,
    #[schema(value_type = Object)]
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
        (status = 200, body = AuditPage),
        AuthProblems, MalformedProblem,
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
        Some(l) => {
            l.parse::<i64>().ok().filter(|l| (1..=500).contains(l)).ok_or_else(|| bad("limit", "must be 1..=500"))?
        }
    };
    let before_id = q
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().map_err(|_| bad("cursor", "is not a cursor from this API")))
        .transpose()?;
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
