//! The REST API: routes and their OpenAPI description registered together, thin handlers,
//! and the layers every request passes (request id, tracing, timeout, body limit).

mod audit;
mod connections;
pub mod error;
mod extract;
mod health;
pub mod listener;
pub mod metrics;
pub mod openapi;
mod params;
mod principals;
mod providers;
mod responses;
mod tokens;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::handler::Handler as _;
use axum::http::header::{ALLOW, AUTHORIZATION, CONNECTION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::{SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use connections::{CreateConnection, ReplaceSecrets, UpdateConnection};
pub use extract::{BodyError, parse_json};
pub use principals::{CreateKey, CreatePrincipal};
pub use providers::ProviderList;

use crate::admin::Admin;
use crate::auth::AuthCache;
use crate::store::Store;
use crate::tokens::TokenService;
use error::{ApiError, PROBLEM_JSON};

/// What every handler reaches; one `Arc`, since axum clones the state for every request.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub store: Store,
    pub tokens: Arc<TokenService>,
    pub admin: Admin,
    pub auth: Arc<AuthCache>,
    pub usage: Arc<crate::usage::Usage>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct HttpLimits {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

/// What the operations endpoints need besides the API state.
pub struct Operations {
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every documented route; the OpenAPI document is generated from exactly this.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::routes())
        .merge(tokens::routes())
        .merge(connections::routes())
        .merge(principals::routes())
        .merge(providers::routes())
        .merge(audit::routes())
}

pub fn router(state: AppState, limits: &HttpLimits, ops: Operations) -> Router {
    let (router, mut api) = api_routes().split_for_parts();
    openapi::complete(&mut api);
    let metrics_handle = ops.metrics;
    let series = Arc::new(metrics::RequestSeries::default());
    router
        // Swagger UI's assets are compiled in; it also serves the document at /openapi.json.
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api))
        .route("/metrics", axum::routing::get(move |state| metrics::render(metrics_handle.clone(), state)))
        .route_layer(axum::middleware::from_fn_with_state(series.clone(), metrics::measure))
        // Route layers skip the fallback: it is measured on its own, as route `unmatched`.
        .fallback(metrics::unmatched.layer(axum::middleware::from_fn_with_state(series, metrics::measure)))
        .with_state(state)
        // Innermost first. Each Router::layer call normalizes the response body, so the
        // problem+json mapper also sees the answers of the body limit and the timeout.
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limits.request_timeout))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(SetSensitiveResponseHeadersLayer::new([SET_COOKIE]))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // Method, path and request id only: never headers.
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                // A failed answer is logged once, where its cause is known (vendor, database,
                // internal); an ERROR from this layer too would say the same thing twice.
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Outermost: marked sensitive before anything can log them.
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION, COOKIE]))
}

/// Errors produced outside our handlers (unmatched method, body limit, timeout, extractor
/// rejections) come as plain text; every error answer is problem+json.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem =
        response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let mut response = if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let allow = response.headers().get(ALLOW).cloned();
        let mut problem = ApiError::from_status(status).into_response();
        // A 405 says which methods the resource has (RFC 9110 §15.5.6).
        if let Some(allow) = allow {
            problem.headers_mut().insert(ALLOW, allow);
        }
        problem
    } else {
        response
    };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the oversized body was never read: this connection cannot carry another request.
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
