//! The process-wide recorder: histogram buckets, a HELP line for every family, build info.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram samples queue in the recorder until upkeep folds them into their buckets: without
/// it they pile up between scrapes, 8 bytes and more a request, without bound if nobody
/// scrapes (`bench/hot_path.sh` saw the peak RSS reach 98 MiB in 60 s of load).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// API answers range from well under a millisecond (a cached token) to a vendor call's
/// timeout (10 s by default, 30 s for a whole request).
const HTTP_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Vendor token endpoints answer in tens to hundreds of milliseconds; the timeout is 10 s.
const VENDOR_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every family recorded through the `metrics` facade. The database-derived gauges are
/// described where they are rendered (`gauges.rs`).
const FAMILIES: &[(&str, Kind, &str)] = &[
    ("tokenbroker_build_info", Kind::Gauge, "Always 1; the version label says which build is running."),
    ("tokenbroker_http_requests_total", Kind::Counter, "API requests answered, by method, route template and status."),
    (
        "tokenbroker_http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an API request, by method and route template.",
    ),
    (
        "tokenbroker_token_answers_total",
        Kind::Counter,
        "Token requests answered, by source: memory (cached), refreshed (after a refresh), or the error code.",
    ),
    (
        "tokenbroker_refreshes_total",
        Kind::Counter,
        "Refreshes under the row lock, by provider and outcome (success, vendor_*, needs_reauth).",
    ),
    (
        "tokenbroker_backoffs_total",
        Kind::Counter,
        "Backoff windows entered after a failed refresh, by provider and error code.",
    ),
    ("tokenbroker_refresh_ahead_total", Kind::Counter, "Background refreshes ahead of expiry, by outcome."),
    (
        "tokenbroker_vendor_requests_total",
        Kind::Counter,
        "Requests to vendor token endpoints, by step (primary, refresh) and outcome.",
    ),
    (
        "tokenbroker_vendor_request_duration_seconds",
        Kind::Histogram,
        "Time for one request to a vendor token endpoint, by step.",
    ),
    ("tokenbroker_http_connections_open", Kind::Gauge, "Client connections open now, parked idle ones included."),
    (
        "tokenbroker_http_connections_closed_total",
        Kind::Counter,
        "Client connections the broker closed, by reason (idle_timeout, header_read_timeout, tls_handshake_failed).",
    ),
    (
        "tokenbroker_http_connection_limit_reached_total",
        Kind::Counter,
        "Times a new connection waited because TOKENBROKER_MAX_CONNECTIONS were open.",
    ),
    (
        "tokenbroker_auth_checks_total",
        Kind::Counter,
        "API key checks that reached the database, by outcome (found, unknown, unreachable, error).",
    ),
    (
        "tokenbroker_rate_limited_total",
        Kind::Counter,
        "Requests refused with 429, by limit (principal, auth_failures, connection_refresh).",
    ),
];

/// Counters that exist, at 0, from the start: a series that appears only at its first event
/// makes `rate()` and `increase()` blind to that first event, and alerts on it late.
const ZEROED: &[(&str, &str, &[&str])] = &[
    (
        "tokenbroker_http_connections_closed_total",
        "reason",
        &["idle_timeout", "header_read_timeout", "tls_handshake_failed"],
    ),
    ("tokenbroker_http_connection_limit_reached_total", "", &[]),
    ("tokenbroker_rate_limited_total", "limit", &["principal", "auth_failures", "connection_refresh"]),
];

/// Installs the process-wide recorder. `None` if one is installed already (then metrics from
/// this instance go to that one and `/metrics` has only the database-derived gauges).
pub fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("tokenbroker_http_request_duration_seconds".into()), HTTP_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("tokenbroker_vendor_request_duration_seconds".into()),
                VENDOR_BUCKETS,
            )
        });
    match builder.and_then(PrometheusBuilder::install_recorder) {
        Ok(handle) => {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let upkeep = handle.clone();
                runtime.spawn(async move {
                    let mut every = tokio::time::interval(UPKEEP_EVERY);
                    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        every.tick().await;
                        upkeep.run_upkeep();
                    }
                });
            }
            describe();
            metrics::gauge!("tokenbroker_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics recorder not installed");
            None
        }
    }
}

fn describe() {
    for (name, kind, help) in FAMILIES {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => metrics::describe_histogram!(*name, *help),
        }
    }
    for (name, label, values) in ZEROED {
        if values.is_empty() {
            metrics::counter!(*name).absolute(0);
        }
        for value in *values {
            metrics::counter!(*name, *label => *value).absolute(0);
        }
    }
}
