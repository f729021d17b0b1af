//! Issue 11 item 4: a refresh-token-only connection whose refresh tokens live 20 s (at the
//! server and in `refresh.lifetime_seconds`), access tokens of an hour, one token fetched and
//! then 30 s with no caller. Refresh-ahead must rotate the refresh token before it ends, so the
//! chain is alive when the next caller comes: the forced refresh after the idle spell is 200.

use std::time::Duration;

use crate::harness::authserver::{AuthServerSettings, basic_refresh_client};
use crate::harness::random;
use crate::harness::token_answer::parse_time;

use super::setup::{Rig, refresh_only_connection};

const REFRESH_TOKEN_SECS: u64 = 20;
const IDLE: Duration = Duration::from_secs(30);
const CLIENT: &str = "broker-rt-idle";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_refresh_token_only_connection_keeps_its_chain_past_the_refresh_tokens_lifetime() {
    let secret = random::secret("rt-client-secret");
    let server = AuthServerSettings {
        access_token_ttl: 3600,
        refresh_token_ttl: REFRESH_TOKEN_SECS,
        refresh_token_sliding: true,
        clients: vec![basic_refresh_client(CLIENT, &secret)],
        ..AuthServerSettings::default()
    };
    let rig = Rig::start(
        &server,
        1,
        &[
            ("TOKENBROKER_ROTATE_REFRESH_TOKENS_BEFORE_SECS", "12"),
            ("TOKENBROKER_REFRESH_AHEAD_INTERVAL_MS", "1000"),
            ("TOKENBROKER_VENDOR_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    let seeded = rig.server.seed_refresh_token(CLIENT).await;
    let token_url = rig.server.token_url();
    let body = refresh_only_connection("rt-idle", &token_url, CLIENT, &secret, &seeded, Some(REFRESH_TOKEN_SECS));
    rig.app.admin.create_connection(&body).await;
    rig.svc(0).token("rt-idle").await;
    let before = rig.server.counters().await;
    assert_eq!(before.rotations, 1, "the first token comes from the seeded refresh token: {:?}", before.events);
    let idle_from = before.events.last().map_or(0, |e| e.t_ms);

    tokio::time::sleep(IDLE).await;

    let counters = rig.server.counters().await;
    let while_idle: Vec<u64> = counters
        .events
        .iter()
        .filter(|e| e.outcome == "ok" && e.grant_type == "refresh_token" && e.t_ms > idle_from)
        .map(|e| e.t_ms - idle_from)
        .collect();
    eprintln!("idle chain: rotations while idle at {while_idle:?} ms after the first token");
    assert!(
        while_idle.first().is_some_and(|&t| t < REFRESH_TOKEN_SECS * 1000),
        "no rotation within the refresh token's {REFRESH_TOKEN_SECS} s while idle (rotations at {while_idle:?} ms); \
         server refusals {:?}; connection {}",
        counters.refusals(),
        rig.app.admin.connection("rt-idle").await
    );

    let forced = rig.app.admin.refresh_resp("rt-idle", None).await;
    forced.expect(200);
    let view = rig.app.admin.connection("rt-idle").await;
    assert_eq!(view["status"], "active", "{view}");
    let ends = parse_time(&view["token"]["refresh_token_expires_at"]);
    let left = (ends - chrono::Utc::now()).num_milliseconds();
    assert!(
        left > 0 && left <= i64::try_from(REFRESH_TOKEN_SECS * 1000).unwrap_or(i64::MAX),
        "the view should show the current refresh token's end, within its {REFRESH_TOKEN_SECS} s: {view}"
    );
    let counters = rig.server.counters().await;
    assert_eq!(counters.refresh_token_reuse, 0, "{:?}", counters.refusals());
    assert_eq!(counters.invalid_grant, 0, "{:?}", counters.refusals());
}
