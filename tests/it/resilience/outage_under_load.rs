//! A database outage under load, on two replicas whose path to Postgres is cut and restored
//! (`DbProxy`; the shared server itself is never touched). `ops/database_outage.rs` checks one
//! idle broker; here callers keep asking throughout. Each replica serves the token it holds
//! with 200 for as long as the caller's key was verified within the bound
//! (`TOKENBROKER_CACHE_TTL_MS`) — through token-cache re-checks that fail and fall back to
//! memory — and 503 `unavailable` once it cannot vouch for the key any more; a connection
//! never fetched gets 503 `unavailable` without a vendor call; `/readyz` is 503 and `/healthz`
//! 200. Once the path is back, everything works again — the same token, a first token, a
//! refresh — without restarting anything.

use std::time::{Duration, Instant};

use reqwest::Method;

use super::load::{Answer, Load, spread};
use super::rotating_vendor::RotatingVendor;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::db_proxy::DbProxy;

const OUTAGE: Duration = Duration::from_secs(4);
/// `TOKENBROKER_CACHE_TTL_MS`: within it the token cache re-checks the unreachable database
/// and falls back to memory; past it the replicas refuse the key.
const TTL: Duration = Duration::from_millis(2000);

async fn assert_status(base: &str, path: &str, status: u16) {
    TestClient::new(base, None, Default::default()).raw(Method::GET, path).send().await.expect(status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tokens_flow_within_the_bound_of_an_outage_under_load_and_all_recovers_without_restart() {
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(&db.url).await;
    let mut env = BrokerEnv::new(&proxy.url);
    // A short TTL: during the outage every replica re-checks the database, and must fall back
    // to what it holds, then reaches the bound well inside the outage.
    env.extra.push(("TOKENBROKER_CACHE_TTL_MS".into(), TTL.as_millis().to_string()));
    // Callers loop back to back, far past any one service's fair rate (rate limits have tests
    // of their own).
    env.extra.extend(crate::harness::setup::UNLIMITED.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut brokers = vec![Broker::start(&env).await, Broker::start(&env).await];
    let bases: Vec<String> = brokers.iter().map(Broker::base_url).collect();
    let admin = TestClient::new(&bases[0], Some(env.admin_key()), Default::default());
    let vendor = RotatingVendor::start().await;
    admin.create_connection(&vendor.connection("warm")).await;
    admin.create_connection(&vendor.connection("cold")).await;
    admin.create_principal("svc", "service").await;
    admin.put_grant("svc", "*").await;
    let key = admin.create_key("svc").await;
    let svc: Vec<TestClient> = bases.iter().map(|b| TestClient::new(b, Some(&key), Default::default())).collect();
    let warm = svc[0].access_token("warm").await;
    assert_eq!(svc[1].access_token("warm").await, warm);

    let warm_load = Load::start(&spread(&bases, 6, &key, "warm", 60));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls_before = vendor.calls().len();
    proxy.cut();
    let cut = Instant::now();
    for base in &bases {
        TestClient::new(base, None, Default::default()).wait_for_status("/readyz", 503).await;
        assert_status(base, "/healthz", 200).await;
    }
    let cold_load = Load::start(&spread(&bases, 2, &key, "cold", 60));
    tokio::time::sleep(OUTAGE).await;
    let cold = cold_load.stop().await;
    for base in &bases {
        assert_status(base, "/readyz", 503).await;
        assert_status(base, "/healthz", 200).await;
    }
    assert_eq!(vendor.calls().len(), calls_before, "the vendor was called while no outcome could be stored");
    proxy.restore();
    let restored = Instant::now();
    for base in &bases {
        TestClient::new(base, None, Default::default()).wait_for_status("/readyz", 200).await;
    }
    let ready = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let warm_answers = warm_load.stop().await;

    // The key was in use up to the cut, so each replica had checked it at most half the TTL
    // (and one check's time) before: it is vouched for until then, never past the TTL after.
    let served_until = cut + TTL / 2 - Duration::from_millis(250);
    let refused_from = cut + TTL;
    let served = |a: &&Answer| a.status == 200 && a.access_token.as_deref() == Some(warm.as_str());
    let unavailable =
        |a: &&Answer| a.status == 503 && a.code.as_deref() == Some("unavailable") && a.retry_after.is_some();
    let within: Vec<&Answer> = warm_answers.iter().filter(|a| a.asked >= cut && a.answered < served_until).collect();
    let past: Vec<&Answer> =
        warm_answers.iter().filter(|a| a.asked >= refused_from && a.answered <= restored).collect();
    let slowest = within.iter().map(|a| a.answered - a.asked).max().unwrap_or_default();
    eprintln!(
        "outage: {} warm answers ({} within the bound, slowest {slowest:?}; {} past it), {} cold answers",
        warm_answers.len(),
        within.len(),
        past.len(),
        cold.len()
    );
    assert!(within.len() >= 10, "only {} warm answers within the bound: callers were stalled", within.len());
    let bad: Vec<String> = warm_answers
        .iter()
        .filter(|a| a.answered < served_until || a.asked < cut)
        .filter(|a| !served(a))
        .map(|a| format!("{} (asked {:?} after the cut)", a.describe(), a.asked.saturating_duration_since(cut)))
        .collect();
    assert!(
        bad.is_empty(),
        "a caller whose key was verified within the bound was not served its token:\n{}",
        bad.join("\n")
    );
    assert!(past.len() >= 10, "only {} warm answers past the bound", past.len());
    let bad: Vec<String> = past.iter().filter(|a| !unavailable(a)).map(|a| a.describe()).collect();
    assert!(
        bad.is_empty(),
        "past the bound a key must be refused 503 unavailable with Retry-After:\n{}",
        bad.join("\n")
    );
    let bad: Vec<String> =
        warm_answers.iter().filter(|a| !served(a) && !unavailable(a)).map(|a| a.describe()).collect();
    assert!(bad.is_empty(), "answers other than the token or 503 unavailable:\n{}", bad.join("\n"));
    // Back: the same token, to every caller, from shortly after the replicas are ready.
    let after: Vec<&Answer> = warm_answers.iter().filter(|a| a.asked >= ready + Duration::from_secs(1)).collect();
    assert!(!after.is_empty(), "no warm answers after the recovery");
    let bad: Vec<String> = after.iter().filter(|a| !served(a)).map(|a| a.describe()).collect();
    assert!(bad.is_empty(), "after the recovery a caller was not served its token:\n{}", bad.join("\n"));
    assert!(!cold.is_empty(), "no answers for the never-fetched connection");
    let bad: Vec<String> = cold
        .iter()
        .filter(|a| a.status != 503 || a.code.as_deref() != Some("unavailable"))
        .map(|a| a.describe())
        .collect();
    assert!(bad.is_empty(), "a connection with nothing cached must be 503 unavailable:\n{}", bad.join("\n"));

    // Recovered, same processes: a first token, shared by both replicas, and a refresh.
    let first_cold = svc[0].access_token("cold").await;
    assert_eq!(svc[1].access_token("cold").await, first_cold);
    assert_eq!(first_cold, vendor.last_access_token());
    let refreshed = svc[1].refresh("warm", Some(&warm)).await;
    assert_ne!(refreshed, warm);
    assert_eq!(refreshed, vendor.last_access_token());
    assert_eq!(vendor.calls().len(), calls_before + 2, "one call for the first cold token, one for the refresh");
    assert!(vendor.reuse_events().is_empty());
    for broker in &mut brokers {
        assert!(broker.wait_exit(Duration::ZERO).await.is_none(), "a replica exited during the outage");
    }
}
