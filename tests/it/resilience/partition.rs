//! A network partition between the broker and Postgres: packets vanish, nothing is refused or
//! reset (`PartitionProxy`), so every database call hangs instead of failing fast as in
//! `outage_under_load.rs`. decisions.md promises that a cached token is still served while
//! Postgres is unreachable, to a key verified within the bound; that is only worth something
//! if it comes while the caller still waits. What a careful operator expects, since the
//! contract names no figure: well inside a typical client timeout of a few seconds — this test
//! allows 2 s per answer. Past the bound the key is refused with 503 `unavailable`: the first
//! refusal may wait for one key check to give up (at most 5 s), every later one is as prompt.

use std::time::{Duration, Instant};

use reqwest::Method;

use super::rotating_vendor::RotatingVendor;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::partition_proxy::PartitionProxy;

const PROMPT: Duration = Duration::from_secs(2);
/// `TOKENBROKER_CACHE_TTL_MS`.
const TTL: Duration = Duration::from_millis(2000);
/// How long a key check may wait for the database before it gives up (src/auth/cache.rs).
const CHECK_DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_network_partition_a_cached_token_is_served_promptly_within_the_bound() {
    let db = TestDb::postgres().await;
    let proxy = PartitionProxy::start(&db.url).await;
    let mut env = BrokerEnv::new(&proxy.url);
    // Past the TTL within the test, every answer makes the broker re-check the database.
    env.extra.push(("TOKENBROKER_CACHE_TTL_MS".into(), TTL.as_millis().to_string()));
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), Some(env.admin_key()), Default::default());
    let vendor = RotatingVendor::start().await;
    admin.create_connection(&vendor.connection("warm")).await;
    admin.create_principal("svc", "service").await;
    admin.put_grant("svc", "*").await;
    let key = admin.create_key("svc").await;
    let svc = TestClient::new(&broker.base_url(), Some(&key), Default::default());
    let warm = svc.access_token("warm").await;

    // Used just before: the key was checked at most half the TTL ago.
    svc.access_token("warm").await;
    let partitioned = Instant::now();
    proxy.partition();
    // A caller's own timeout: an answer later than PROMPT is no answer for it.
    let caller = reqwest::Client::builder().no_proxy().timeout(PROMPT).build().expect("client");
    let patient = reqwest::Client::builder().no_proxy().timeout(CHECK_DEADLINE * 2).build().expect("client");
    let url = format!("{}/v1/connections/warm/token", broker.base_url());
    let mut attempt = 0;
    while partitioned.elapsed() < TTL / 2 - Duration::from_millis(300) {
        attempt += 1;
        let started = Instant::now();
        let resp = caller.get(&url).bearer_auth(&key).send().await.unwrap_or_else(|e| {
            panic!(
                "partition, attempt {attempt}: no answer within {PROMPT:?} ({e}); the cached token waits on the \
                 unreachable database"
            )
        });
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.expect("JSON answer");
        assert_eq!(status, 200, "partition, attempt {attempt}: {body}");
        assert_eq!(body["access_token"], warm.as_str(), "partition, attempt {attempt}");
        eprintln!("partition: attempt {attempt} served in {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Past the bound: refused. Once one check has given up, at once.
    tokio::time::sleep((partitioned + TTL).saturating_duration_since(Instant::now())).await;
    let mut refusals = Vec::new();
    for attempt in 1..=4 {
        let started = Instant::now();
        let resp = patient.get(&url).bearer_auth(&key).send().await.unwrap_or_else(|e| {
            panic!("partition, past the bound, attempt {attempt}: no answer within {:?} ({e})", CHECK_DEADLINE * 2)
        });
        let (status, retry_after) = (resp.status().as_u16(), resp.headers().get("retry-after").is_some());
        let body: serde_json::Value = resp.json().await.expect("JSON answer");
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("unavailable")),
            "past the bound, attempt {attempt}: {body}"
        );
        assert!(retry_after, "503 unavailable without Retry-After");
        refusals.push(started.elapsed());
        eprintln!("partition: past the bound, attempt {attempt} refused in {:?}", started.elapsed());
    }
    assert!(refusals[0] <= CHECK_DEADLINE + Duration::from_secs(1), "first refusal took {:?}", refusals[0]);
    for (i, took) in refusals.iter().enumerate().skip(1) {
        assert!(*took <= PROMPT, "refusal {} took {took:?}, after a check had already given up", i + 1);
    }

    // Healed: ready again without a restart, and refreshes work.
    proxy.heal();
    let deadline = Instant::now() + Duration::from_secs(20);
    while svc.anonymous().raw(Method::GET, "/readyz").send().await.status != 200 {
        assert!(Instant::now() < deadline, "not ready 20 s after the partition healed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Keys are verified again as soon as a background probe gets through (one every 250 ms);
    // until then a request is told to come back (503 + Retry-After), never accepted unchecked.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let resp = svc.raw(Method::GET, "/v1/connections/warm/token").send().await;
        if resp.status == 200 {
            break;
        }
        assert_eq!(resp.status, 503, "{}", resp.body);
        assert!(Instant::now() < deadline, "keys still not verified 3 s after the database was back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(svc.refresh("warm", Some(&warm)).await, warm);
    assert!(vendor.reuse_events().is_empty());
}
