//! Many callers report the same rejected token at once, on two replicas: one refresh, and all
//! of them get the same new token.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;

use crate::harness::api::access_token_of;
use crate::harness::replicated_app_with_qubs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rejections_of_one_token_cause_one_refresh() {
    let (mut app, qubs) = replicated_app_with_qubs("qubs-main").await;
    let other = app.add_replica().await;
    let svc = app.service(&["qubs-main"]).await;
    let key = svc.key().expect("service key").to_owned();
    let rejected = svc.access_token("qubs-main").await;
    qubs.set_delay(Duration::from_millis(500));

    let calls = (0..40).map(|i| {
        let client = app.client_on(if i % 2 == 0 { 0 } else { other }, Some(&key));
        let rejected = rejected.clone();
        tokio::spawn(async move { client.refresh_resp("qubs-main", Some(&rejected)).await })
    });
    let mut tokens = BTreeSet::new();
    for joined in join_all(calls).await {
        tokens.insert(access_token_of(&joined.expect("task").expect(200)));
    }
    assert_eq!(qubs.calls(), 2, "one call for the first token, one for the refresh");
    assert_eq!(tokens.len(), 1, "callers got different tokens: {tokens:?}");
    assert!(!tokens.contains(&rejected), "the rejected token was handed out again");
    assert!(tokens.contains(&qubs.current_token()));
}
