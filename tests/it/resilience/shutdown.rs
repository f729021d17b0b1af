//! SIGTERM while a refresh is in flight at the vendor — a rolling deploy at a bad moment. The
//! replica stops accepting connections, but the refresh it started completes and is committed:
//! the rotated single-use refresh token is saved, not lost with the process. The next caller on
//! another replica gets that very token without a vendor call, the next refresh presents the
//! rotated refresh token, and the process exits 0.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::setup::Rig;
use crate::harness::api::access_token_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_refresh_commits_the_refresh_and_exits_zero() {
    let mut rig = Rig::start(
        2,
        &[
            // The held refresh must outlast the SIGTERM and the checks that follow it.
            ("TOKENBROKER_VENDOR_TIMEOUT_MS", "10000"),
            ("TOKENBROKER_REFRESH_AHEAD_SECS", "0"),
        ],
    )
    .await;
    rig.app.admin.create_connection(&rig.vendor.connection("draining")).await;
    let first = rig.svc(0).access_token("draining").await;

    rig.vendor.hold_refreshes();
    let in_flight = {
        let svc = rig.svc(0);
        let body = json!({"rejected_access_token": first});
        tokio::spawn(async move {
            svc.raw(Method::POST, "/v1/connections/draining/token/refresh").json(&body).try_send().await
        })
    };
    rig.vendor.wait_parked(1, Duration::from_secs(10)).await;
    let in_flight_refresh_token = rig.vendor.presented()[0].clone();
    rig.app.broker(0).sigterm();

    let addr = rig.app.broker(0).addr.clone();
    let deadline = Instant::now() + Duration::from_secs(3);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 3 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!in_flight.is_finished(), "the in-flight refresh ended before the vendor answered");

    rig.vendor.release();
    let resp = in_flight.await.expect("request task").unwrap_or_else(|e| panic!("the in-flight refresh was cut: {e}"));
    let committed = access_token_of(&resp.expect(200));
    assert_eq!(committed, rig.vendor.last_access_token());
    let status =
        rig.app.broker_mut(0).wait_exit(Duration::from_secs(10)).await.expect("still running 10 s after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");

    let calls = rig.vendor.calls().len();
    assert_eq!(
        rig.svc(1).access_token("draining").await,
        committed,
        "the other replica did not get the committed token"
    );
    assert_eq!(
        rig.svc(1).refresh("draining", Some(&first)).await,
        committed,
        "a stale rejection must get the committed token"
    );
    assert_eq!(rig.vendor.calls().len(), calls, "the other replica called the vendor: the refresh was not committed");

    let next = rig.svc(1).refresh("draining", Some(&committed)).await;
    assert_eq!(next, rig.vendor.last_access_token());
    let presented = rig.vendor.presented();
    assert_eq!(presented.len(), 2, "{presented:?}");
    assert_ne!(presented[1], in_flight_refresh_token, "the refresh token spent before the SIGTERM was presented again");
    assert!(rig.vendor.reuse_events().is_empty());
}
