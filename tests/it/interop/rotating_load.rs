//! Issue 11 item 3: a connection whose only credential is a rotating refresh token, served by
//! three replicas to nine callers for 15 s with 4 s access tokens, through a proxy that plays
//! a server closing idle keep-alive connections. A refresh sent on a pooled socket the server
//! already closed never reaches the server; the broker must not count its refresh token as
//! spent for that (or must not send single-use tokens on such sockets at all). Every answer is
//! 200 and the server sees no refresh token twice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness::authserver::{AuthServerSettings, basic_refresh_client};
use crate::harness::keepalive_proxy::KeepAliveProxy;
use crate::harness::random;
use crate::resilience::load::{Load, spread};

use super::setup::{Rig, refresh_only_connection};

const REPLICAS: usize = 3;
const CALLERS: usize = 9;
const RUN: Duration = Duration::from_secs(15);
const ACCESS_TOKEN_SECS: u64 = 4;
/// The keep-alive timeout the proxy plays: gunicorn's default, and under Node's 5 s. A pool
/// that retires idle sockets only after this still meets it.
const SERVER_KEEP_ALIVE: Duration = Duration::from_secs(2);
/// The contract's default `min_ttl`: with 4 s tokens, a refresh once a token is half used.
const MIN_TTL: u64 = 60;
const CLIENT: &str = "broker-rt-load";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_only_connection_serves_three_replicas_through_idle_keep_alive_closes() {
    let secret = random::secret("rt-client-secret");
    let server = AuthServerSettings {
        access_token_ttl: ACCESS_TOKEN_SECS,
        clients: vec![basic_refresh_client(CLIENT, &secret)],
        ..AuthServerSettings::default()
    };
    let rig = Rig::start(
        &server,
        REPLICAS,
        &[
            // Timeouts are not what this test is about; a busy machine must not cause them.
            ("TOKENBROKER_VENDOR_TIMEOUT_MS", "5000"),
            // Tens of thousands of requests: keep per-request debug lines out of memory.
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    let proxy = KeepAliveProxy::start(rig.server.addr(), Some(SERVER_KEEP_ALIVE)).await;
    let seeded = rig.server.seed_refresh_token(CLIENT).await;
    let body = refresh_only_connection("rt-load", &proxy.url("/token"), CLIENT, &secret, &seeded, None);
    rig.app.admin.create_connection(&body).await;

    let started = Instant::now();
    let load = Load::start(&spread(&rig.base_urls(REPLICAS), CALLERS, &rig.key, "rt-load", MIN_TTL));
    tokio::time::sleep(RUN).await;
    let answers = load.stop().await;
    let ran = started.elapsed().as_secs_f64();
    let counters = rig.server.counters().await;
    let stats = proxy.stats();

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for answer in &answers {
        *outcomes.entry(format!("{} {}", answer.status, answer.code.as_deref().unwrap_or(""))).or_default() += 1;
    }
    eprintln!(
        "rotating load: {} answers in {ran:.1} s {outcomes:?}; server: requests {:?}, {} rotations, {} reuses, \
         {} invalid_grant; proxy: {} connections, {} idle resets",
        answers.len(),
        counters.token_requests,
        counters.rotations,
        counters.refresh_token_reuse,
        counters.invalid_grant,
        stats.connections,
        stats.idle_resets
    );

    assert!(answers.len() >= 200, "only {} answers in {ran:.1} s: the load did not run", answers.len());
    let failed: Vec<String> = answers.iter().filter(|a| a.status != 200).map(|a| a.describe()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} answers were not 200 ({outcomes:?}), first ones:\n{}\nconnection: {}",
        failed.len(),
        answers.len(),
        failed[..5.min(failed.len())].join("\n"),
        rig.app.admin.connection("rt-load").await
    );
    assert_eq!(
        counters.refresh_token_reuse,
        0,
        "the server saw a rotated refresh token again: {:?}",
        counters.refusals()
    );
    assert_eq!(counters.invalid_grant, 0, "refused refreshes: {:?}", counters.refusals());
    // Tokens were handed out all along and none lasts more than 4 s: the chain kept rotating.
    let fewest = (ran / ACCESS_TOKEN_SECS as f64).floor() as u64 - 1;
    assert!(counters.rotations >= fewest, "{} rotations in {ran:.1} s of 4 s tokens", counters.rotations);
}
