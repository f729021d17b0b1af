//! Liveness and readiness; no key needed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (process up) or `ready` (database reachable and migrated).
    pub status: &'static str,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`ok`", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database is reachable and every migration this binary knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "`ready`", body = Health),
    (status = 503, description = "`unavailable`: the database is unreachable or not migrated", body = Problem, content_type = "application/problem+json"),
))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    // Bounded: a load balancer's probe should learn "not ready", not time out.
    let ready = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ready()).await;
    match ready.unwrap_or(Err(crate::store::StoreError::timed_out())) {
        Ok(true) => Ok(Json(Health { status: "ready" })),
        Ok(false) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "database is not migrated")),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unreachable"))
        }
    }
}
