//! A broker killed (SIGKILL) in the middle of a refresh that sent a single-use refresh token.
//! The vendor received it and rotated, but the answer died with the process: that refresh
//! token is spent, and whoever refreshes next must never present it again (a real vendor
//! would revoke the whole chain). With a primary grant the next replica falls back to it; with
//! none the connection becomes `needs_reauth`. The dead process's row lock goes with its
//! database session, so the next refresh is not held up either.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::rotating_vendor::Grant;
use super::setup::Rig;
use crate::harness::api::access_token_of;
use crate::harness::assert_problem;
use crate::harness::client::{Resp, TestClient};

const SETTINGS: &[(&str, &str)] = &[
    // The killed broker must still be waiting for the vendor when it dies.
    ("TOKENBROKER_VENDOR_TIMEOUT_MS", "10000"),
    // Only callers refresh, so the test decides who does and when.
    ("TOKENBROKER_REFRESH_AHEAD_SECS", "0"),
];

/// The lock of a dead session must not delay the next refresh by more than this.
const NEXT_REFRESH_WITHIN: Duration = Duration::from_secs(3);

/// Runs `request` against broker 0 with refresh answers held at the vendor, kills broker 0
/// once the vendor has received the refresh, then lets the vendor answer (into the void).
/// Returns the refresh token that was in flight.
async fn kill_mid_refresh<F>(rig: &mut Rig, request: impl FnOnce(TestClient) -> F) -> String
where
    F: Future<Output = Result<Resp, String>> + Send + 'static,
{
    rig.vendor.hold_refreshes();
    let mut in_flight = tokio::spawn(request(rig.svc(0)));
    tokio::select! {
        () = rig.vendor.wait_parked(1, Duration::from_secs(10)) => {}
        answer = &mut in_flight => panic!("broker 0 answered without the vendor receiving a refresh: {answer:?}"),
    }
    let presented = rig.vendor.presented();
    assert_eq!(presented.len(), 1, "one refresh token in flight");
    rig.app.kill(0).await;
    rig.vendor.release();
    let outcome = in_flight.await.expect("request task");
    assert!(outcome.is_err(), "the killed broker answered: {:?}", outcome.map(|r| r.status));
    presented[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_token_of_a_killed_refresh_is_never_presented_again() {
    let mut rig = Rig::start(2, SETTINGS).await;
    rig.app.admin.create_connection(&rig.vendor.connection("crash")).await;
    let first = rig.svc(0).access_token("crash").await;

    let rejected = first.clone();
    let spent = kill_mid_refresh(&mut rig, move |svc| async move {
        let path = "/v1/connections/crash/token/refresh";
        svc.raw(Method::POST, path).json(&json!({"rejected_access_token": rejected})).try_send().await
    })
    .await;

    // The caller retries on the surviving replica.
    let started = Instant::now();
    let resp = rig.svc(1).refresh_resp("crash", Some(&first)).await;
    let took = started.elapsed();
    let token = access_token_of(&resp.expect(200));
    assert!(took < NEXT_REFRESH_WITHIN, "the next refresh took {took:?}: the dead broker's lock held it up");
    assert_ne!(token, first, "the rejected token was handed out again");
    assert_eq!(token, rig.vendor.last_access_token(), "not the token the vendor issued last");
    assert!(rig.vendor.expiry_of(&token).is_some_and(|at| at > chrono::Utc::now()));
    assert_eq!(
        rig.vendor.presented(),
        vec![spent.clone()],
        "the refresh token in flight at the kill was presented again"
    );
    assert!(rig.vendor.reuse_events().is_empty(), "reuse events: {:?}", rig.vendor.reuse_events().len());
    assert_eq!(
        rig.vendor.calls_of(Grant::ClientCredentials),
        2,
        "the in-doubt token must be replaced by the primary grant"
    );

    // The chain goes on from the refresh token the primary grant returned.
    let next = rig.svc(1).refresh("crash", Some(&token)).await;
    assert_eq!(next, rig.vendor.last_access_token());
    let presented = rig.vendor.presented();
    assert_eq!(presented.len(), 2, "{presented:?}");
    assert_ne!(presented[1], spent);
    assert!(rig.vendor.reuse_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_primary_grant_a_killed_refresh_makes_the_connection_need_reauth() {
    let mut rig = Rig::start(2, SETTINGS).await;
    let (body, seeded) = rig.vendor.refresh_only_connection("crash-rt");
    rig.app.admin.create_connection(&body).await;
    let view = rig.app.admin.connection("crash-rt").await;
    assert_eq!(
        view["token"]["has_refresh_token"], true,
        "the refresh token given at creation must become the connection's token state: {view}"
    );

    // The very first token needs the seeded refresh token.
    let spent = kill_mid_refresh(&mut rig, |svc| async move {
        svc.raw(Method::GET, "/v1/connections/crash-rt/token").try_send().await
    })
    .await;
    assert_eq!(spent, seeded);

    let started = Instant::now();
    let resp = rig.svc(1).token_resp("crash-rt", None).await;
    let took = started.elapsed();
    assert_problem(&resp, 409, "needs_reauth");
    assert!(took < NEXT_REFRESH_WITHIN, "the answer took {took:?}: the dead broker's lock held it up");
    assert_eq!(rig.vendor.presented(), vec![seeded], "the refresh token in flight at the kill was presented again");
    assert!(rig.vendor.reuse_events().is_empty());
    let admin = rig.app.admin_on(1);
    assert_eq!(admin.connection("crash-rt").await["status"], "needs_reauth");

    // An admin's new refresh token brings it back.
    let fresh = rig.vendor.seed_refresh_token();
    admin.put_secrets("crash-rt", &json!({"refresh_token": fresh})).await;
    assert_eq!(rig.svc(1).access_token("crash-rt").await, rig.vendor.last_access_token());
    assert_eq!(rig.vendor.presented().last(), Some(&fresh));
    assert!(rig.vendor.reuse_events().is_empty());
}
