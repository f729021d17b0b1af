//! `429 rate_limited` with `Retry-After`: per principal on every authenticated request, and per
//! source address on failed authentications, so that neither a looping service nor a flood of
//! invented keys costs vendor calls or database queries without bound. Limits are per replica.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;

use super::assert_unauthenticated;
use crate::fakes::FakeQubs;
use crate::harness::app::spawn_app_on;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::{Resp, TestClient};
use crate::harness::db::{Backend, TestDb};
use crate::harness::db_proxy::DbProxy;
use crate::harness::metrics::counter;
use crate::harness::{assert_problem, spawn_app_with};

/// A 429 as the contract describes it; returns its `Retry-After` in seconds.
fn assert_rate_limited(resp: &Resp) -> u64 {
    assert_problem(resp, 429, "rate_limited");
    let after = resp.header("retry-after").unwrap_or_else(|| panic!("429 without Retry-After: {}", resp.body));
    let secs: u64 = after.parse().unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {after:?}"));
    assert!(secs >= 1, "Retry-After must be at least 1 s (rounded up), got {secs}");
    secs
}

fn unknown_key() -> String {
    format!("tbk_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

fn local(last_octet: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last_octet])
}

#[tokio::test]
async fn a_looping_service_gets_429_with_retry_after_and_recovers_after_waiting() {
    // On PostgreSQL: the limit is shown to be per replica by adding one.
    let mut app = spawn_app_on(Backend::Postgres, |env| {
        env.extra.push(("TOKENBROKER_RATE_LIMIT_PER_SECOND".into(), "5".into()));
        env.extra.push(("TOKENBROKER_RATE_LIMIT_BURST".into(), "10".into()));
    })
    .await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    let svc = app.service(&["qubs-main"]).await;
    svc.access_token("qubs-main").await;
    let calls_before = qubs.calls();

    // The review's loop: fetch the token, report it rejected, again and again.
    let (mut served, mut refreshed, mut limited, mut retry_after) = (0, 0, 0, 0);
    for _ in 0..30 {
        let resp = svc.token_resp("qubs-main", None).await;
        if resp.status == 429 {
            retry_after = assert_rate_limited(&resp);
            limited += 1;
            continue;
        }
        assert_eq!(resp.status, 200, "{}", resp.body);
        served += 1;
        let token = resp.json()["access_token"].as_str().expect("access_token").to_owned();
        let resp = svc.refresh_resp("qubs-main", Some(&token)).await;
        match resp.status {
            429 => {
                retry_after = assert_rate_limited(&resp);
                limited += 1;
            }
            200 => refreshed += 1,
            other => panic!("refresh answered {other}: {}", resp.body),
        }
    }
    eprintln!("loop: {served} tokens, {refreshed} refreshes, {limited} refused");
    assert!(limited >= 10, "only {limited} of 60 back-to-back requests were refused with a limit of 5/s, burst 10");
    let vendor_calls = qubs.calls() - calls_before;
    assert!(
        vendor_calls <= refreshed,
        "{vendor_calls} vendor calls for {refreshed} refreshes let through: a refused request reached the vendor"
    );
    assert!(
        counter(&svc, "tokenbroker_rate_limited_total", &[("limit", "principal")]).await >= f64::from(limited),
        "every refusal is counted in tokenbroker_rate_limited_total{{limit=\"principal\"}}"
    );

    // The limit is this principal's, on this replica: the admin and another replica still answer.
    app.admin.get("/v1/providers", 200).await;
    let other = app.add_replica().await;
    app.client_on(other, svc.key()).get("/v1/connections/qubs-main/token", 200).await;

    // Waiting what it was told is enough.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    svc.get("/v1/connections/qubs-main/token", 200).await;
}

#[tokio::test]
async fn an_unknown_key_flood_from_one_address_gets_429_without_a_database_query_per_try() {
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(&db.url).await;
    let mut env = BrokerEnv::new(&proxy.url);
    env.extra.push(("TOKENBROKER_RATE_LIMIT_AUTH_FAILURES_PER_SECOND".into(), "1".into()));
    env.extra.push(("TOKENBROKER_RATE_LIMIT_AUTH_FAILURES_BURST".into(), "5".into()));
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), Some(env.admin_key()), Default::default());
    admin.get("/v1/providers", 200).await;
    let flooder = admin.via_address(local(2));
    let lookups = |c: &TestClient| {
        let c = c.clone();
        async move { counter(&c, "tokenbroker_auth_checks_total", &[("outcome", "unknown")]).await }
    };

    const TRIES: u32 = 100;
    let before = lookups(&admin).await;
    let started = Instant::now();
    let (mut unauthenticated, mut limited) = (0u32, 0u32);
    for _ in 0..TRIES {
        let resp =
            flooder.raw(Method::GET, "/v1/providers").authorization(&format!("Bearer {}", unknown_key())).send().await;
        match resp.status {
            401 => {
                assert_unauthenticated(&resp);
                unauthenticated += 1;
            }
            429 => {
                assert_rate_limited(&resp);
                limited += 1;
            }
            other => panic!("an unknown key got {other}: {}", resp.body),
        }
    }
    let elapsed = started.elapsed().as_secs_f64().ceil();
    let queries = lookups(&admin).await - before;
    eprintln!("flood: {unauthenticated} × 401, {limited} × 429, {queries} queries in {elapsed} s");
    // The burst, one more try each second, and the try that found the source over its limit.
    let allowed = 5.0 + elapsed * 2.0 + 1.0;
    assert!(queries <= allowed, "{queries} database queries for {TRIES} unknown keys (allowed {allowed})");
    assert!(f64::from(limited) >= f64::from(TRIES) - allowed, "only {limited} of {TRIES} tries were refused with 429");
    assert!(
        counter(&admin, "tokenbroker_rate_limited_total", &[("limit", "auth_failures")]).await >= f64::from(limited)
    );

    // A key this replica knows is not held up by its address's failures, and another address
    // is not limited by this one's.
    flooder.with_key(env.admin_key()).get("/v1/providers", 200).await;
    let other = admin.via_address(local(3));
    let repeated = unknown_key();
    for _ in 0..3 {
        assert_unauthenticated(&other.with_key(&repeated).raw(Method::GET, "/v1/providers").send().await);
    }

    // A key the database just said it lacks is refused from memory: with the database gone,
    // it is still 401, while a key never seen needs the database and cannot be answered.
    proxy.cut();
    admin.anonymous().wait_for_status("/readyz", 503).await;
    assert_unauthenticated(&other.with_key(&repeated).raw(Method::GET, "/v1/providers").send().await);
    assert_problem(&other.with_key(&unknown_key()).raw(Method::GET, "/v1/providers").send().await, 503, "unavailable");
}

/// The memory of unknown keys must not refuse a key that has just become valid elsewhere: it
/// is dropped by the change notification, not only when it expires (after the cache TTL, 5 s).
#[tokio::test]
async fn a_key_that_becomes_valid_elsewhere_is_accepted_at_once_after_being_unknown() {
    // Another replica's write, heard through PostgreSQL's notifications.
    let app = spawn_app_on(Backend::Postgres, |_| {}).await;
    app.admin.create_principal("svc", "service").await;
    let key = unknown_key();
    let client = app.client_on(0, Some(&key));
    assert_unauthenticated(&client.raw(Method::GET, "/v1/providers").send().await);

    // What another replica's key creation writes (and notifies), straight after the miss.
    sqlx::query(
        "insert into api_keys (id, principal_id, key_hash) values ('key_elsewhere', 'svc', sha256(convert_to($1, 'UTF8')))",
    )
    .bind(&key)
    .execute(&app.db.pg_pool().await)
    .await
    .expect("insert a key");
    let valid_since = Instant::now();
    loop {
        let resp = client.raw(Method::GET, "/v1/providers").send().await;
        if resp.status == 200 {
            break;
        }
        assert_unauthenticated(&resp);
        assert!(
            valid_since.elapsed() < Duration::from_secs(2),
            "a key valid in the database was still refused {:?} later",
            valid_since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The review's loop (finding 5): a granted service fetching the token and reporting it
/// rejected, again and again. With the default minimum age, a report about a fresh token is
/// 429 and costs the vendor nothing.
#[tokio::test]
async fn reporting_a_fresh_token_rejected_is_told_to_wait_not_refreshed() {
    let app = spawn_app_with(|env| {
        env.extra.retain(|(name, _)| name != "TOKENBROKER_REJECTED_TOKEN_MIN_AGE_SECS");
    })
    .await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    let svc = app.service(&["qubs-main"]).await;
    for _ in 0..20 {
        let token = svc.access_token("qubs-main").await;
        let resp = svc.refresh_resp("qubs-main", Some(&token)).await;
        let wait = assert_rate_limited(&resp);
        assert!((1..=10).contains(&wait), "Retry-After {wait} for a token seconds old, with a minimum age of 10 s");
    }
    assert_eq!(qubs.calls(), 1, "reports about a fresh token reached the vendor");
    assert!(counter(&svc, "tokenbroker_rate_limited_total", &[("limit", "connection_refresh")]).await >= 20.0);
}

/// Old enough reports are honoured, up to the connection's refresh rate: then 429 too.
#[tokio::test]
async fn refreshes_callers_cause_are_limited_per_connection() {
    let app = spawn_app_with(|env| {
        env.extra.push(("TOKENBROKER_REFRESH_RATE_LIMIT_PER_MINUTE".into(), "6".into()));
        env.extra.push(("TOKENBROKER_REFRESH_RATE_LIMIT_BURST".into(), "3".into()));
    })
    .await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    let svc = app.service(&["qubs-main"]).await;
    let (mut refreshed, mut limited) = (0, 0);
    for _ in 0..10 {
        let token = svc.access_token("qubs-main").await;
        let resp = svc.refresh_resp("qubs-main", Some(&token)).await;
        match resp.status {
            200 => refreshed += 1,
            _ => {
                assert_rate_limited(&resp);
                limited += 1;
            }
        }
    }
    // The first token was one refresh; then two more fit the burst of 3.
    assert_eq!((refreshed, limited), (2, 8), "a burst of 3 refreshes per connection, then 429");
    assert_eq!(qubs.calls(), 3);
    // An admin's forced refresh is how an operator retries by hand: never limited.
    app.admin.refresh("qubs-main", None).await;
    assert_eq!(qubs.calls(), 4);
}
