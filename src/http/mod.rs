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
mod principals;
mod providers;
mod responses;
mod tokens;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::{SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::AuthCache;
use crate::refresh::TokenService;
use crate::store::Store;
use error::{ApiError, PROBLEM_JSON};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub tokens: Arc<TokenService>,
    pub auth: Arc<AuthCache>,
    pub usage: Arc<crate::usage::Usage>,
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
    let (router, api) = api_routes().split_for_parts();
    let metrics_handle = ops.metrics;
    router
        // Swagger UI's assets are compiled in; it also serves the document at /openapi.json.
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api))
        .route("/metrics", axum::routing::get(move || metrics::render(metrics_handle.clone())))
        .route_layer(axum::middleware::from_fn(metrics::measure))
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) })
        .with_state(state)
        // Innermost first. Each Router::layer call normalizes the response body, so the
        // problem+json mapper also sees the answers of the body limit and the timeout.
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limits.request_timeout))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(SetSensitiveResponseHeadersLayer::new([SET_COOKIE]))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            // Method, path and request id only: never headers.
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        }))
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
        ApiError::from_status(status).into_response()
    } else {
        response
    };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the oversized body was never read: this connection cannot carry another request.
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
