//! A failing vendor, one fault at a time: the caller gets the documented status and code with
//! `Retry-After`, the process stays healthy, and for the whole backoff window further callers
//! get the same answer at once without the vendor being called — even once the fault is gone,
//! since the broker cannot know. When `Retry-After` has passed, the next call succeeds.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;

use super::retry_after_secs;
use super::setup::Rig;
use crate::fakes::Fault;
use crate::harness::api::access_token_of;
use crate::harness::assert_problem;
use crate::harness::token_answer::parse_time;

/// The shortest first backoff decisions.md allows: 1 s less 20% jitter.
const SHORTEST_FIRST_WAIT: Duration = Duration::from_millis(800);

/// `vendor_wait`: the `Retry-After` the vendor itself sent, which the window must honour.
async fn fails_backs_off_and_recovers(fault: Fault, status: u16, code: &str, vendor_wait: Duration) {
    let rig = Rig::start(1, &[("TOKENBROKER_REFRESH_AHEAD_SECS", "0")]).await;
    rig.app.admin.create_connection(&rig.vendor.connection("faulty")).await;
    rig.vendor.set_fault(fault.clone());
    let svc = rig.svc(0);

    let resp = svc.token_resp("faulty", None).await;
    let failed = Instant::now();
    assert_problem(&resp, status, code);
    let advised = retry_after_secs(&resp);
    assert!(
        Duration::from_secs(advised) >= vendor_wait,
        "{fault:?}: the vendor said Retry-After {vendor_wait:?}, the broker {advised} s"
    );
    assert_eq!(rig.vendor.calls().len(), 1, "{fault:?}: vendor calls for one failed request");
    rig.app.healthz(0).await;

    // The window runs at least this long from the failure the broker recorded.
    let recorded = parse_time(&rig.app.admin.connection("faulty").await["last_error"]["at"]);
    let surely_closed_until = recorded + SHORTEST_FIRST_WAIT.max(vendor_wait);

    let burst = join_all((0..10).map(|_| svc.token_resp("faulty", None))).await;
    let burst_done = Utc::now();
    for resp in &burst {
        assert_problem(resp, status, code);
        let left = retry_after_secs(resp);
        assert!(left <= advised, "{fault:?}: Retry-After grew from {advised} to {left} within one window");
    }
    assert!(
        burst_done < surely_closed_until,
        "{fault:?}: 10 answers during the backoff window were not at once (done {burst_done}, \
         window open at the earliest {surely_closed_until})"
    );
    assert_eq!(rig.vendor.calls().len(), 1, "{fault:?}: the vendor was called during the backoff window");

    // The fault is gone, but the window is not over: still the same answer, still no call.
    rig.vendor.set_fault(Fault::None);
    let late = surely_closed_until - chrono::Duration::milliseconds(300);
    if let Ok(wait) = (late - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    assert_problem(&svc.token_resp("faulty", None).await, status, code);
    assert!(Utc::now() < surely_closed_until, "{fault:?}: the late answer in the window was not at once");
    assert_eq!(rig.vendor.calls().len(), 1, "{fault:?}: the vendor was called before its window ended");

    // A caller that waits what it was told finds the window over.
    tokio::time::sleep((failed + Duration::from_secs(advised)).saturating_duration_since(Instant::now())).await;
    let resp = svc.token_resp("faulty", None).await;
    assert_eq!(resp.status, 200, "{fault:?}: {advised} s after the failure, with the fault gone: {}", resp.body);
    assert_eq!(access_token_of(&resp.json()), rig.vendor.last_access_token());
    assert_eq!(rig.vendor.calls().len(), 2, "{fault:?}: one more vendor call after the window");
}

#[tokio::test]
async fn vendor_500_backs_off() {
    fails_backs_off_and_recovers(Fault::ServerError(500), 503, "vendor_unavailable", Duration::ZERO).await;
}

#[tokio::test]
async fn vendor_503_backs_off() {
    fails_backs_off_and_recovers(Fault::ServerError(503), 503, "vendor_unavailable", Duration::ZERO).await;
}

#[tokio::test]
async fn vendor_429_backs_off_for_at_least_its_retry_after() {
    let fault = Fault::TooManyRequests { retry_after: 3 };
    fails_backs_off_and_recovers(fault, 503, "vendor_unavailable", Duration::from_secs(3)).await;
}

#[tokio::test]
async fn vendor_hanging_past_the_timeout_backs_off() {
    fails_backs_off_and_recovers(Fault::Hang, 503, "vendor_unavailable", Duration::ZERO).await;
}

#[tokio::test]
async fn vendor_html_backs_off() {
    fails_backs_off_and_recovers(Fault::Html, 502, "vendor_bad_response", Duration::ZERO).await;
}

#[tokio::test]
async fn vendor_truncated_json_backs_off() {
    fails_backs_off_and_recovers(Fault::TruncatedJson, 502, "vendor_bad_response", Duration::ZERO).await;
}

#[tokio::test]
async fn vendor_answer_without_access_token_backs_off() {
    fails_backs_off_and_recovers(Fault::MissingAccessToken, 502, "vendor_bad_response", Duration::ZERO).await;
}
