//! `/metrics` after real traffic: what operators' dashboards and alerts read is there, with
//! the values the traffic implies; nothing a client sends becomes a label; every family is
//! documented in the README and nothing documented is missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;

use crate::fakes::qbench::FakeQbench;
use crate::fakes::qflow::FakeQflow;
use crate::fakes::{FakeQubs, Fault};
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::db_proxy::DbProxy;
use crate::harness::metrics::{Scrape, scrape};
use crate::harness::{TestApp, assert_problem, random, spawn_app_with};

pub(super) fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// A broker after a little of everything: tokens from the vendor and from memory, a vendor
/// outage with its backoff, a refused refresh token that leaves a connection `needs_reauth`,
/// a refresh token with an end date, and refresh-ahead at work.
pub(super) struct Busy {
    _app: TestApp,
    pub scrape: Scrape,
    _vendors: (FakeQubs, FakeQubs, FakeQflow, FakeQbench),
}

pub(super) async fn busy_broker() -> Busy {
    let app = spawn_app_with(|env| {
        env.extra.push(("TOKENBROKER_REFRESH_AHEAD_INTERVAL_MS".into(), "200".into()));
    })
    .await;
    let admin = &app.admin;

    // Short-lived tokens, so refresh-ahead renews them within a few seconds of use.
    let ok = FakeQubs::start().await;
    ok.set_expires_in(4);
    admin.create_connection(&ok.connection("qubs-ok")).await;
    admin.access_token("qubs-ok").await;

    let down = FakeQubs::start().await;
    down.set_fault(Fault::ServerError(503));
    admin.create_connection(&down.connection("qubs-down")).await;
    assert_problem(&admin.token_resp("qubs-down", None).await, 503, "vendor_unavailable");
    assert_problem(&admin.token_resp("qubs-down", None).await, 503, "vendor_unavailable");

    let qflow = FakeQflow::start().await;
    let stale = random::secret("qflow-stale-refresh-token");
    admin.create_connection(&qflow.connection_from_refresh_token("qflow-lost", &stale)).await;
    assert_problem(&admin.token_resp("qflow-lost", None).await, 409, "needs_reauth");

    let qbench = FakeQbench::start().await;
    admin.create_connection(&qbench.connection("qbench-lims")).await;
    // An hour-long token: the second answer comes from memory however slow the machine is.
    assert_eq!(admin.access_token("qbench-lims").await, admin.access_token("qbench-lims").await);

    let deadline = Instant::now() + Duration::from_secs(15);
    let scrape = loop {
        let scrape = scrape(admin).await;
        if scrape.sum("tokenbroker_refresh_ahead_total", &[("outcome", "refreshed")]) >= 1.0 {
            break scrape;
        }
        assert!(Instant::now() < deadline, "no refresh ahead of expiry within 15 s:\n{}", scrape.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    Busy { _app: app, scrape, _vendors: (ok, down, qflow, qbench) }
}

#[tokio::test]
async fn traffic_shows_up_with_the_values_it_implies() {
    let busy = busy_broker().await;
    let m = &busy.scrape;
    let at_least = |name: &str, labels: &[(&str, &str)], min: f64| {
        let got = m.sum(name, labels);
        assert!(got >= min, "{name}{labels:?} = {got}, expected at least {min}:\n{}", m.text);
    };
    let exactly = |name: &str, labels: &[(&str, &str)], want: f64| {
        assert_eq!(m.value(name, labels), Some(want), "{name}{labels:?}:\n{}", m.text);
    };

    // Token answers by source: the second qbench-lims call came from memory.
    at_least("tokenbroker_token_answers_total", &[("source", "memory")], 1.0);
    at_least("tokenbroker_token_answers_total", &[("source", "refreshed")], 2.0);
    at_least("tokenbroker_token_answers_total", &[("source", "vendor_unavailable")], 2.0);
    exactly("tokenbroker_token_answers_total", &[("source", "needs_reauth")], 1.0);

    // Refreshes by provider and outcome; the outage entered a backoff.
    at_least("tokenbroker_refreshes_total", &[("provider", "qubs"), ("outcome", "success")], 1.0);
    at_least("tokenbroker_refreshes_total", &[("provider", "qubs"), ("outcome", "vendor_unavailable")], 1.0);
    exactly("tokenbroker_refreshes_total", &[("provider", "qflow"), ("outcome", "needs_reauth")], 1.0);
    exactly("tokenbroker_refreshes_total", &[("provider", "qbench"), ("outcome", "success")], 1.0);
    at_least("tokenbroker_backoffs_total", &[("provider", "qubs"), ("code", "vendor_unavailable")], 1.0);

    // Vendor calls by step and outcome, and their latency.
    exactly("tokenbroker_vendor_requests_total", &[("step", "refresh"), ("outcome", "invalid_grant")], 1.0);
    at_least("tokenbroker_vendor_requests_total", &[("step", "primary"), ("outcome", "success")], 3.0);
    at_least("tokenbroker_vendor_requests_total", &[("step", "primary"), ("outcome", "vendor_unavailable")], 1.0);
    let calls = m.sum("tokenbroker_vendor_requests_total", &[]);
    assert_eq!(m.sum("tokenbroker_vendor_request_duration_seconds_count", &[]), calls, "one latency per call");

    // Database-derived gauges.
    exactly("tokenbroker_database_up", &[], 1.0);
    exactly("tokenbroker_connections", &[("status", "active")], 3.0);
    exactly("tokenbroker_connections", &[("status", "needs_reauth")], 1.0);
    exactly("tokenbroker_connections", &[("status", "disabled")], 0.0);
    exactly("tokenbroker_connection_status", &[("connection", "qflow-lost"), ("status", "needs_reauth")], 1.0);
    exactly("tokenbroker_connection_status", &[("connection", "qbench-lims"), ("provider", "qbench")], 1.0);
    exactly("tokenbroker_connection_consecutive_vendor_failures", &[("connection", "qubs-ok")], 0.0);
    at_least("tokenbroker_connection_consecutive_vendor_failures", &[("connection", "qubs-down")], 1.0);
    let ends = m
        .value("tokenbroker_connection_refresh_token_expiry_timestamp_seconds", &[("connection", "qbench-lims")])
        .unwrap_or_else(|| panic!("no refresh-token end for qbench-lims:\n{}", m.text));
    let days = (ends - chrono::Utc::now().timestamp() as f64) / 86_400.0;
    assert!((6.9..=7.01).contains(&days), "QBench refresh tokens last 7 days; the gauge says {days:.2}");
    exactly("tokenbroker_refresh_tokens_due_for_rotation", &[], 0.0);
    exactly("tokenbroker_refresh_token_rotate_window_seconds", &[], 86_400.0);

    // HTTP: the token route by its template, never by connection id.
    at_least(
        "tokenbroker_http_requests_total",
        &[("method", "GET"), ("route", "/v1/connections/{id}/token"), ("status", "200")],
        3.0,
    );
    assert!(!m.text.contains("qubs-ok/token"), "a raw path became a label:\n{}", m.text);
    exactly("tokenbroker_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
}

#[tokio::test]
async fn every_family_is_in_the_readme_metrics_table_and_back() {
    let busy = busy_broker().await;
    let exported: BTreeSet<String> = busy.scrape.families().into_keys().collect();
    let readme = repo_file("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Metrics\n"))
        .unwrap_or_else(|| panic!("README.md has no \"## Metrics\" section"));
    // The first cell of each table row names a family.
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_owned()))
        .collect();
    let undocumented: Vec<&String> = exported.difference(&documented).collect();
    let absent: Vec<&String> = documented.difference(&exported).collect();
    assert!(undocumented.is_empty(), "exported but not in the README's Metrics table: {undocumented:?}");
    assert!(absent.is_empty(), "in the README's Metrics table but not exported: {absent:?}");
}

/// Issue 12, finding 1: each invented method used to become a label, so any client could
/// grow memory and `/metrics` without bound.
#[tokio::test]
async fn invented_methods_add_no_series() {
    let app = spawn_app_with(|_| {}).await;
    let client = app.admin.anonymous();
    let send = |method: String, path: &'static str| {
        let req = client.raw(Method::from_bytes(method.as_bytes()).unwrap(), path);
        async move { req.send().await.status }
    };
    // Warm up: the `other` series on a route and off any route, and /metrics itself.
    assert_eq!(send(format!("WARM{}", random::hex(8)), "/healthz").await, 405);
    assert_eq!(send(format!("WARM{}", random::hex(8)), "/no-such-route").await, 404);
    scrape(&client).await;
    let before = scrape(&client).await;

    let statuses: Vec<u16> = futures::stream::iter(0..3_000)
        .map(|i| {
            let method = format!("X{i}{}", random::hex(16).to_uppercase());
            send(method, if i % 2 == 0 { "/healthz" } else { "/no-such-route" })
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| [404, 405].contains(s)), "{:?}", statuses.iter().collect::<BTreeSet<_>>());

    let after = scrape(&client).await;
    let added: Vec<String> = after.series().difference(&before.series()).cloned().collect();
    assert!(added.is_empty(), "3,000 invented methods added {} series, e.g. {:.300?}", added.len(), added.first());
    let counted = after.sum("tokenbroker_http_requests_total", &[("method", "other")]);
    assert_eq!(counted, 3_002.0, "every invented method is counted, as `other`");
    assert!(
        after.text.len() < before.text.len() + 1_000,
        "/metrics grew from {} to {} bytes",
        before.text.len(),
        after.text.len()
    );
}

/// The database gauge follows the database; the in-process series stay available.
#[tokio::test]
async fn database_up_follows_the_database() {
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(&db.url).await;
    let env = BrokerEnv::new(&proxy.url);
    let broker = Broker::start(&env).await;
    let client = TestClient::new(&broker.base_url(), None, Default::default());
    assert_eq!(scrape(&client).await.value("tokenbroker_database_up", &[]), Some(1.0));

    proxy.cut();
    client.wait_for_status("/readyz", 503).await;
    let started = Instant::now();
    let down = scrape(&client).await;
    assert!(started.elapsed() < Duration::from_secs(3), "a scrape waited {:?} on a dead database", started.elapsed());
    assert_eq!(down.value("tokenbroker_database_up", &[]), Some(0.0), "{}", down.text);
    assert!(down.value("tokenbroker_build_info", &[("version", env!("CARGO_PKG_VERSION"))]).is_some());
    assert!(down.value("tokenbroker_connections", &[("status", "active")]).is_none(), "stale counts shown as current");

    proxy.restore();
    client.wait_for_status("/readyz", 200).await;
    assert_eq!(scrape(&client).await.value("tokenbroker_database_up", &[]), Some(1.0));
}
