//! `GET /metrics` (Prometheus text) and the per-request measurements behind it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide recorder. `None` if one is installed already (then metrics from
/// this instance go to that one and `/metrics` answers an empty page).
pub fn install() -> Option<PrometheusHandle> {
    match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            metrics::gauge!("tokenbroker_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics recorder not installed");
            None
        }
    }
}

pub async fn render(handle: Option<PrometheusHandle>) -> Response {
    let body = handle.map(|h| {
        // No background upkeep thread: histograms are compacted when scraped.
        h.run_upkeep();
        h.render()
    });
    let mut response = body.unwrap_or_default().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Counts requests and their latency by route template (never the raw path: ids are not labels).
pub async fn measure(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tokenbroker_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("tokenbroker_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
