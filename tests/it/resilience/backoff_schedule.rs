//! Hammering a failing vendor: sixteen callers on two replicas for 8 s against a vendor that
//! answers 503 to everything. The vendor may be called only as often as the backoff schedule
//! of decisions.md allows — 1 s, 2 s, 4 s… (±20%) between calls — whoever asks and on
//! whichever replica. And once a window is over the next caller does try again: callers are
//! not shut out longer than the schedule says.

use std::time::Duration;

use super::load::{Load, spread};
use super::setup::Rig;
use crate::fakes::Fault;

const REPLICAS: usize = 2;
const TASKS: usize = 16;
const HAMMER: Duration = Duration::from_secs(8);
/// How late after a window's end the next call may come: callers ask back to back, but the
/// machine is shared.
const SLACK_SECS: f64 = 0.5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_vendor_is_called_only_as_the_backoff_schedule_allows() {
    let rig = Rig::start(REPLICAS, &[("TOKENBROKER_REFRESH_AHEAD_SECS", "0")]).await;
    rig.app.admin.create_connection(&rig.vendor.connection("failing")).await;
    rig.vendor.set_fault(Fault::ServerError(503));

    let load = Load::start(&spread(&rig.base_urls(REPLICAS), TASKS, &rig.key, "failing", 60));
    tokio::time::sleep(HAMMER).await;
    let answers = load.stop().await;
    let calls = rig.vendor.calls();

    assert!(answers.len() >= 100, "only {} answers: the load did not run", answers.len());
    let wrong: Vec<String> = answers
        .iter()
        .filter(|a| a.status != 503 || a.code.as_deref() != Some("vendor_unavailable") || a.retry_after.is_none())
        .map(|a| a.describe())
        .collect();
    assert!(wrong.is_empty(), "answers other than 503 vendor_unavailable with Retry-After:\n{}", wrong.join("\n"));

    let gaps: Vec<f64> = calls.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).collect();
    eprintln!("backoff: {} answers, {} vendor calls, gaps {gaps:.2?} s", answers.len(), calls.len());
    for (k, gap) in gaps.iter().enumerate() {
        let earliest = 0.8 * nominal(k);
        assert!(
            *gap >= earliest - 0.02,
            "vendor call {} came {gap:.2} s after the one before; the schedule allows none before {earliest:.1} s \
             (gaps {gaps:.2?})",
            k + 2
        );
    }
    // Latest times the schedule allows: 0, 1.2, 3.6 s (+ slack): well inside the 8 s.
    assert!(
        calls.len() >= 3,
        "{} vendor call(s) in {HAMMER:?}: the broker stopped retrying (gaps {gaps:.2?})",
        calls.len()
    );
    for (k, gap) in gaps.iter().enumerate() {
        let latest = 1.2 * nominal(k) + SLACK_SECS;
        assert!(
            *gap <= latest,
            "vendor call {} came {gap:.2} s after the one before; the documented window is {:.0} s ±20%, so callers \
             were refused for longer than the schedule says (gaps {gaps:.2?})",
            k + 2,
            nominal(k)
        );
    }
}

/// The schedule's nominal wait after the `k+1`-th consecutive failure: 1 s, 2 s, 4 s…
fn nominal(k: usize) -> f64 {
    f64::from(1u32 << k.min(20))
}
