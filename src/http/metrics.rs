//! `GET /metrics` (Prometheus text) and the per-request measurements behind it.
//!
//! Every label value comes from a closed set: a request's method is one of the nine
//! standard ones or `other`, its route the matched template or `unmatched`, so nothing a
//! client sends can add a series. The README's "Metrics" table lists every family.

mod gauges;
mod recorder;
mod series;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;

pub use recorder::install;
pub use series::RequestSeries;

use super::AppState;
use super::error::ApiError;

/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// The process-wide series, then the gauges read from the database for this scrape.
pub async fn render(handle: Option<PrometheusHandle>, State(state): State<AppState>) -> Response {
    let mut body = handle.map_or_else(String::new, |h| {
        // Folds in the samples since the last upkeep (recorder.rs runs it every few seconds).
        h.run_upkeep();
        h.render()
    });
    gauges::render(&state.store, state.tokens.rotate_lead(), &mut body).await;
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Counts requests and their latency by method and route template (never the raw path: ids
/// are not labels). Runs on matched routes (`route_layer`) and on the fallback.
pub async fn measure(State(series): State<Arc<RequestSeries>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    series.record(method, route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// The fallback's answer for a path no route matches; measured like any route.
pub async fn unmatched() -> ApiError {
    ApiError::from_status(axum::http::StatusCode::NOT_FOUND)
}

/// A method as a label: the standard ones by name, anything a client invents as `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("other", |(_, label)| label)
}

/// Counts a token request that the token service answered with an error, by the contract's
/// code. Answers given are counted where their source is known (`refresh::TokenService`).
pub fn count_token_error(err: &ApiError) {
    metrics::counter!("tokenbroker_token_answers_total", "source" => err.code()).increment(1);
}

#[cfg(test)]
mod tests;
