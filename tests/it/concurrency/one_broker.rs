//! 100 callers, one process: one vendor call.

use std::time::Duration;

use super::fetch_all;
use crate::harness::app_with_qubs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_callers_cause_one_vendor_call() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    qubs.set_delay(Duration::from_millis(500));
    let svc = app.service(&["qubs-main"]).await;

    let tokens = fetch_all(vec![svc; 100], "qubs-main").await;
    assert_eq!(qubs.calls(), 1, "vendor calls for 100 concurrent callers");
    assert_eq!(tokens.len(), 1, "callers got different tokens: {tokens:?}");
    assert!(tokens.contains(&qubs.current_token()));
}
