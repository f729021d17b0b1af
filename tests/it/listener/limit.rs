//! Over `TOKENBROKER_MAX_CONNECTIONS`, a new connection waits (in the listen backlog) and is
//! served as soon as another one closes.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::raw;
use crate::harness::spawn_app_with;

#[tokio::test]
async fn a_connection_over_the_limit_waits_for_a_free_slot() {
    let app = spawn_app_with(|env| env.extra.push(("TOKENBROKER_MAX_CONNECTIONS".into(), "2".into()))).await;
    let addr = app.broker(0).addr.clone();
    let mut first = raw::connect(&addr).await;
    raw::healthz(&mut first).await;
    let mut second = raw::connect(&addr).await;
    raw::healthz(&mut second).await;

    // The kernel completes the handshake; the broker does not take the connection yet.
    let mut third = raw::connect(&addr).await;
    third.write_all(raw::HEALTHZ).await.unwrap();
    let early = raw::read_response(&mut third, Duration::from_millis(1500)).await;
    assert!(early.is_none(), "a third connection was served with the limit at 2: {early:?}");

    drop(first);
    let answer = raw::read_response(&mut third, Duration::from_secs(10))
        .await
        .expect("the waiting connection was not served after a slot freed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    raw::healthz(&mut second).await;

    let warned = app.log_lines().iter().filter_map(|l| l.json()).any(|j| {
        j["level"] == "WARN" && j["fields"]["message"].as_str().is_some_and(|m| m.contains("connection limit reached"))
    });
    assert!(warned, "no warning that the connection limit was reached");
}
