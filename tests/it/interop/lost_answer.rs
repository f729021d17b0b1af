//! Issue 11 item 3, second half: the server rotated the refresh token but its answer never
//! reached the broker. The token the broker holds is spent and it has nothing else, so the
//! connection needs an admin: 409 `needs_reauth` with a `last_error`, never a 500 — and it
//! must not present the spent token again (the server would revoke the grant). New secrets
//! bring it back.

use std::time::{Duration, Instant};

use crate::harness::assert_problem;
use crate::harness::authserver::{AuthServerSettings, basic_refresh_client};
use crate::harness::keepalive_proxy::KeepAliveProxy;
use crate::harness::random;
use crate::harness::token_answer::parse_time;

use super::setup::{Rig, refresh_only_connection};

const ACCESS_TOKEN_SECS: u64 = 4;
const CLIENT: &str = "broker-rt-lost";

#[tokio::test]
async fn a_lost_refresh_answer_turns_a_refresh_token_only_connection_to_needs_reauth_not_500() {
    let secret = random::secret("rt-client-secret");
    let server = AuthServerSettings {
        access_token_ttl: ACCESS_TOKEN_SECS,
        clients: vec![basic_refresh_client(CLIENT, &secret)],
        ..AuthServerSettings::default()
    };
    let rig = Rig::start(&server, 1, &[("TOKENBROKER_VENDOR_TIMEOUT_MS", "5000")]).await;
    let proxy = KeepAliveProxy::start(rig.server.addr(), None).await;
    let seeded = rig.server.seed_refresh_token(CLIENT).await;
    let body = refresh_only_connection("rt-lost", &proxy.url("/token"), CLIENT, &secret, &seeded, None);
    rig.app.admin.create_connection(&body).await;
    let svc = rig.svc(0);
    svc.token("rt-lost").await;
    let first_token_at = Instant::now();

    proxy.lose_next_answer();
    let forced = rig.app.admin.refresh_resp("rt-lost", None).await;
    eprintln!("lost answer: the forced refresh answered {} {}", forced.status, forced.body);
    assert_eq!(proxy.stats().lost_answers, 1, "the forced refresh should have gone through the proxy");
    assert_eq!(rig.server.counters().await.rotations, 2, "the server should have rotated on the lost request");
    assert!(
        [409, 503].contains(&forced.status),
        "a lost answer is needs_reauth (409) or vendor_unavailable (503), never {}: {}",
        forced.status,
        forced.body
    );
    assert_problem(&forced, forced.status, if forced.status == 409 { "needs_reauth" } else { "vendor_unavailable" });

    // Past the first token's end (and any backoff after the failure): the next caller needs a
    // new token, and the broker has nothing it may use to get one.
    let wait = Duration::from_millis(ACCESS_TOKEN_SECS * 1000 + 500).saturating_sub(first_token_at.elapsed());
    tokio::time::sleep(wait).await;
    let next = svc.token_resp("rt-lost", None).await;
    assert_problem(&next, 409, "needs_reauth");

    let view = rig.app.admin.connection("rt-lost").await;
    assert_eq!(view["status"], "needs_reauth", "{view}");
    assert!(view["last_error"].is_object(), "a needs_reauth connection says why: {view}");
    parse_time(&view["last_error"]["at"]);
    assert!(view["last_error"]["code"].is_string() && view["last_error"]["detail"].is_string(), "{view}");

    let counters = rig.server.counters().await;
    assert_eq!(counters.refresh_token_reuse, 0, "the spent refresh token was sent again: {:?}", counters.refusals());

    let reconsented = rig.server.seed_refresh_token(CLIENT).await;
    let view = rig.app.admin.put_secrets("rt-lost", &serde_json::json!({"refresh_token": reconsented})).await;
    assert_eq!(view["status"], "active", "{view}");
    svc.token("rt-lost").await;
    let counters = rig.server.counters().await;
    assert_eq!(counters.refresh_token_reuse, 0, "{:?}", counters.refusals());
    assert_eq!(counters.rotations, 3, "{:?}", counters.events);
}
