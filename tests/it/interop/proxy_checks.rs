//! The keep-alive proxy does what the broker tests rely on: a request on a pooled socket that
//! sat idle past the server's keep-alive timeout meets a reset and never reaches the server,
//! and a lost answer is one the server did process.

use std::time::Duration;

use crate::harness::authserver::{AuthServer, AuthServerSettings, basic_refresh_client};
use crate::harness::keepalive_proxy::{KeepAliveProxy, ProxyStats};
use crate::harness::random;

/// Long enough that two back-to-back requests on a busy machine are not "idle" in between.
const IDLE_CLOSE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn the_proxy_resets_requests_on_idle_sockets_and_loses_answers_on_demand() {
    let secret = random::secret("rt-client-secret");
    let server = AuthServer::start(&AuthServerSettings {
        clients: vec![basic_refresh_client("rt-client", &secret)],
        ..AuthServerSettings::default()
    })
    .await;
    let proxy = KeepAliveProxy::start(server.addr(), Some(IDLE_CLOSE)).await;
    // A pooling client, as the broker's is.
    let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client");
    let discovery = proxy.url("/.well-known/openid-configuration");

    assert_eq!(http.get(&discovery).send().await.expect("first request").status(), 200);
    assert_eq!(http.get(&discovery).send().await.expect("reuse while fresh").status(), 200);
    assert_eq!(proxy.stats(), ProxyStats { connections: 1, idle_resets: 0, lost_answers: 0 });

    tokio::time::sleep(IDLE_CLOSE + Duration::from_millis(500)).await;
    let stale = http.get(&discovery).send().await;
    assert!(stale.is_err(), "a request on a socket idle past the keep-alive timeout must fail: {stale:?}");
    assert_eq!(proxy.stats().idle_resets, 1);
    assert_eq!(http.get(&discovery).send().await.expect("on a new socket").status(), 200);
    assert_eq!(proxy.stats().connections, 2);

    // Losing an answer, on a proxy that closes nothing for idleness.
    let losing = KeepAliveProxy::start(server.addr(), None).await;
    let refresh_token = server.seed_refresh_token("rt-client").await;
    losing.lose_next_answer();
    let lost = http
        .post(losing.url("/token"))
        .basic_auth("rt-client", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
        .send()
        .await;
    assert!(lost.is_err(), "the answer should have been lost: {lost:?}");
    assert_eq!(losing.stats(), ProxyStats { connections: 1, idle_resets: 0, lost_answers: 1 });
    // The server did the work: the refresh token the client sent is spent.
    let record = server.refresh_token_record(&refresh_token).await.expect("the spent token");
    assert_eq!(record["consumed"], true, "{record}");
    assert_eq!(server.counters().await.rotations, 1);
}
