//! The database goes away: the process stays up (`/healthz`), says it is not ready
//! (`/readyz` 503), answers 503 `unavailable` where it has nothing to serve, serves a cached
//! token only while the caller's key was verified within the bound (`TOKENBROKER_CACHE_TTL_MS`)
//! and 503 `unavailable` after it, and recovers by itself when the database is back.

use std::time::{Duration, Instant};

use crate::fakes::FakeQubs;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::db_proxy::DbProxy;

struct Setup {
    proxy: DbProxy,
    admin: TestClient,
    qubs: FakeQubs,
    cached: String,
    /// Just before the proxy was cut.
    cut_at: Instant,
    _broker: Broker,
    _db: TestDb,
}

/// A broker reaching its database through a proxy, with one connection holding a cached
/// token (`qubs-cached`) and one that never had one (`qubs-never`); then the proxy is cut.
async fn cut_off() -> Setup {
    cut_off_with(&[]).await
}

async fn cut_off_with(settings: &[(&str, &str)]) -> Setup {
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(&db.url).await;
    let mut env = BrokerEnv::new(&proxy.url);
    env.extra.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), Some(env.admin_key()), Default::default());
    let qubs = FakeQubs::start().await;
    admin.create_connection(&qubs.connection("qubs-cached")).await;
    admin.create_connection(&qubs.connection("qubs-never")).await;
    let cached = admin.access_token("qubs-cached").await;

    let cut_at = Instant::now();
    proxy.cut();
    admin.anonymous().wait_for_status("/readyz", 503).await;
    Setup { proxy, admin, qubs, cached, cut_at, _broker: broker, _db: db }
}

#[tokio::test]
async fn outage_is_503_unavailable_while_the_process_stays_up() {
    let s = cut_off().await;
    s.admin.anonymous().get("/healthz", 200).await;

    // A token still valid that the broker holds in memory is served, to a key verified within
    // the bound (the default 5 s; the key was last used just before the cut).
    let resp = s.admin.token_resp("qubs-cached", None).await;
    assert_eq!(resp.status, 200, "a cached, valid token must be served while the database is away: {}", resp.body);
    assert_eq!(resp.json()["access_token"], s.cached.as_str());

    let resp = s.admin.token_resp("qubs-never", None).await;
    crate::harness::assert_problem(&resp, 503, "unavailable");
    assert_eq!(s.qubs.calls(), 1, "no vendor call while the outcome cannot be stored");
}

/// Past the bound the key cannot be vouched for (it may have been revoked on another replica):
/// the cached token is refused too, with 503 `unavailable` and `Retry-After`, until the
/// database is back, and then served again without a restart.
#[tokio::test]
async fn past_the_bound_even_a_cached_token_is_503_until_the_database_returns() {
    const TTL: Duration = Duration::from_millis(1000);
    let s = cut_off_with(&[("TOKENBROKER_CACHE_TTL_MS", "1000")]).await;
    let mut refused = 0;
    while s.cut_at.elapsed() < TTL + Duration::from_millis(1500) {
        let asked = Instant::now();
        let resp = s.admin.token_resp("qubs-cached", None).await;
        if resp.status == 200 {
            assert!(asked < s.cut_at + TTL, "served {:?} after the cut, past the bound", asked - s.cut_at);
            assert_eq!(resp.json()["access_token"], s.cached.as_str());
        } else {
            crate::harness::assert_problem(&resp, 503, "unavailable");
            assert!(resp.header("retry-after").is_some(), "503 unavailable without Retry-After");
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused > 0, "the cached token was still served {:?} after the cut", s.cut_at.elapsed());
    s.admin.anonymous().get("/healthz", 200).await;

    s.proxy.restore();
    s.admin.anonymous().wait_for_status("/readyz", 200).await;
    s.admin.wait_for_status("/v1/connections/qubs-cached/token", 200).await;
    assert_eq!(s.admin.access_token("qubs-cached").await, s.cached);
}

#[tokio::test]
async fn recovery_needs_no_restart() {
    let s = cut_off().await;
    s.proxy.restore();
    s.admin.anonymous().wait_for_status("/readyz", 200).await;
    assert_eq!(s.admin.access_token("qubs-cached").await, s.cached);
    assert_eq!(s.admin.access_token("qubs-never").await, s.qubs.current_token());
}
