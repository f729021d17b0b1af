//! Token churn across replicas: three broker processes on one database, access tokens living
//! 3 s, single-use refresh tokens, refresh-ahead on every replica racing a dozen callers that
//! ask as fast as they can for 20 s. Every refresh is a chance to send a spent refresh token
//! twice (two replicas, or refresh-ahead and a caller, refreshing at once); the vendor must
//! never see that, no caller may get an error or an expired token, and the vendor is called
//! about once per expiry — not once per caller or per replica.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::load::{Load, spread};
use super::rotating_vendor::Grant;
use super::setup::Rig;

const REPLICAS: usize = 3;
const TASKS: usize = 12;
const LIFETIME_SECS: i64 = 3;
const RUN: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_under_load_refresh_once_per_expiry_and_never_reuse_a_refresh_token() {
    let rig = Rig::start(
        REPLICAS,
        &[
            // Refresh-ahead starts at 1.5 s left (half the lifetime), callers with min_ttl=0 at
            // 1 s left: polling every ~1.75 s, refresh-ahead wins most races and callers some.
            ("TOKENBROKER_REFRESH_AHEAD_SECS", "2"),
            ("TOKENBROKER_REFRESH_AHEAD_INTERVAL_MS", "1750"),
            // Timeouts are not what this test is about; a busy machine must not cause them.
            ("TOKENBROKER_VENDOR_TIMEOUT_MS", "5000"),
            // Tens of thousands of requests: keep per-request debug lines out of memory.
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    rig.vendor.set_lifetime(LIFETIME_SECS);
    rig.app.admin.create_connection(&rig.vendor.connection("churn")).await;

    let started = Instant::now();
    let load = Load::start(&spread(&rig.base_urls(REPLICAS), TASKS, &rig.key, "churn", 0));
    tokio::time::sleep(RUN).await;
    let answers = load.stop().await;
    let ran = started.elapsed().as_secs_f64();

    assert!(answers.len() >= 200, "only {} answers in {ran:.1} s: the load did not run", answers.len());
    let failed: Vec<String> = answers.iter().filter(|a| a.status != 200).map(|a| a.describe()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} answers failed, e.g.:\n{}",
        failed.len(),
        answers.len(),
        failed[..5.min(failed.len())].join("\n")
    );

    let mut handed_out = HashSet::new();
    for answer in &answers {
        let token =
            answer.access_token.as_deref().unwrap_or_else(|| panic!("200 without access_token: {}", answer.describe()));
        let expiry = rig
            .vendor
            .expiry_of(token)
            .unwrap_or_else(|| panic!("a token the vendor never issued: {}", answer.describe()));
        assert!(
            answer.answered_at < expiry,
            "handed out a token already expired at the vendor ({}; expired {expiry}, answered {})",
            answer.describe(),
            answer.answered_at
        );
        handed_out.insert(token.to_owned());
    }

    let reuses = rig.vendor.reuse_events();
    assert!(reuses.is_empty(), "the vendor saw {} spent refresh token(s) presented again", reuses.len());
    let presented = rig.vendor.presented();
    let distinct: HashSet<&String> = presented.iter().collect();
    assert_eq!(distinct.len(), presented.len(), "a refresh token was presented twice");

    let calls = rig.vendor.calls().len();
    let primary = rig.vendor.calls_of(Grant::ClientCredentials);
    let ahead = refreshed_ahead(&rig);
    eprintln!(
        "churn: {} answers in {ran:.1} s, {} tokens handed out, {calls} vendor calls ({primary} primary, \
         {ahead} by refresh-ahead)",
        answers.len(),
        handed_out.len()
    );
    // One primary grant to start the chain; after that every refresh uses the refresh token.
    // Another primary grant means a refresh token was dropped although nothing failed.
    assert_eq!(primary, 1, "the refresh-token chain was broken: {primary} client-credentials grants");
    // No token is replaced before half its lifetime, so at most one call per 1.5 s (+ the first).
    let most = (ran / (LIFETIME_SECS as f64 / 2.0)).ceil() as usize + 2;
    // Tokens were handed out all along and none expired, so one was obtained at least every 3 s.
    let fewest = (ran / LIFETIME_SECS as f64).floor() as usize - 1;
    assert!(
        calls <= most,
        "{calls} vendor calls in {ran:.1} s with {LIFETIME_SECS} s tokens: more than one per half-lifetime ({most})"
    );
    assert!(
        calls >= fewest,
        "{calls} vendor calls in {ran:.1} s with {LIFETIME_SECS} s tokens: fewer than one per lifetime ({fewest})"
    );
    assert!(ahead >= 1, "refresh-ahead never refreshed: this test did not exercise it racing the callers");
}

/// How many refreshes the replicas' refresh-ahead tasks made (their `info` log line).
fn refreshed_ahead(rig: &Rig) -> usize {
    rig.app
        .log_lines()
        .iter()
        .filter_map(|line| line.json())
        .filter(|json| json["fields"]["message"] == "refreshed ahead of expiry")
        .count()
}
