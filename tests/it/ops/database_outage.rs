//! The database goes away: the process stays up (`/healthz`), says it is not ready
//! (`/readyz` 503), answers 503 `unavailable` where it has nothing to serve, and recovers by
//! itself when the database is back.

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
    _broker: Broker,
    _db: TestDb,
}

/// A broker reaching its database through a proxy, with one connection holding a cached
/// token (`qubs-cached`) and one that never had one (`qubs-never`); then the proxy is cut.
async fn cut_off() -> Setup {
    let db = TestDb::postgres().await;
    let proxy = DbProxy::start(&db.url).await;
    let env = BrokerEnv::new(&proxy.url);
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), Some(env.admin_key()), Default::default());
    let qubs = FakeQubs::start().await;
    admin.create_connection(&qubs.connection("qubs-cached")).await;
    admin.create_connection(&qubs.connection("qubs-never")).await;
    let cached = admin.access_token("qubs-cached").await;

    proxy.cut();
    admin.anonymous().wait_for_status("/readyz", 503).await;
    Setup { proxy, admin, qubs, cached, _broker: broker, _db: db }
}

#[tokio::test]
async fn outage_is_503_unavailable_while_the_process_stays_up() {
    let s = cut_off().await;
    s.admin.anonymous().get("/healthz", 200).await;

    let resp = s.admin.token_resp("qubs-never", None).await;
    crate::harness::assert_problem(&resp, 503, "unavailable");
    assert_eq!(s.qubs.calls(), 1, "no vendor call while the outcome cannot be stored");
    // A token still valid that the broker holds in memory is served through the outage.
    let resp = s.admin.token_resp("qubs-cached", None).await;
    assert_eq!(resp.status, 200, "a cached, valid token must be served while the database is away: {}", resp.body);
    assert_eq!(resp.json()["access_token"], s.cached.as_str());
}

#[tokio::test]
async fn recovery_needs_no_restart() {
    let s = cut_off().await;
    s.proxy.restore();
    s.admin.anonymous().wait_for_status("/readyz", 200).await;
    assert_eq!(s.admin.access_token("qubs-cached").await, s.cached);
    assert_eq!(s.admin.access_token("qubs-never").await, s.qubs.current_token());
}
