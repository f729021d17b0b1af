//! 100 callers spread over two processes sharing one database: still one vendor call, so the
//! coordination is in the database, not in memory.

use std::time::Duration;

use super::fetch_all;
use crate::harness::replicated_app_with_qubs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_callers_on_two_replicas_cause_one_vendor_call() {
    let (mut app, qubs) = replicated_app_with_qubs("qubs-main").await;
    let other = app.add_replica().await;
    qubs.set_delay(Duration::from_millis(500));
    let svc = app.service(&["qubs-main"]).await;
    let key = svc.key().expect("service key").to_owned();

    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(app.client_on(0, Some(&key)));
        clients.push(app.client_on(other, Some(&key)));
    }
    let tokens = fetch_all(clients, "qubs-main").await;
    assert_eq!(qubs.calls(), 1, "vendor calls for 100 callers on 2 replicas");
    assert_eq!(tokens.len(), 1, "callers got different tokens: {tokens:?}");
    assert!(tokens.contains(&qubs.current_token()));
}
