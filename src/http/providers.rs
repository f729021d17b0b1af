//! Provider discovery, generated from the same definitions that validate a create.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::responses::{KeyProblems, UnavailableProblem};
use crate::auth::Caller;
use crate::providers::{self, ProviderInfo};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderInfo>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_providers))
}

/// Every provider with its grants and its config and secret fields. Any valid key may read it.
#[utoipa::path(get, path = "/v1/providers", tag = "providers", security(("api_key" = [])),
    responses(
        (status = 200, description = "Every provider", body = ProviderList),
        KeyProblems, UnavailableProblem,
    ))]
async fn list_providers(_caller: Caller) -> Json<ProviderList> {
    Json(ProviderList { providers: providers::all().iter().map(|p| p.info()).collect() })
}
