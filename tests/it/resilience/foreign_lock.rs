//! The refresh lock cannot wedge a connection. A session outside the broker — an operator's
//! `psql`, a stuck migration — holds the connection's row lock: cached tokens still flow
//! (the hot path never takes the lock), a refresh waits a bounded time and then answers 503
//! with `Retry-After` (long before the request timeout), and a refresh waiting when the lock
//! is released goes through at once.

use std::time::{Duration, Instant};

use super::setup::Rig;
use crate::harness::api::access_token_of;
use crate::harness::client::Resp;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_lock_held_outside_the_broker_delays_refreshes_only_boundedly() {
    let rig = Rig::start_on_postgres(
        1,
        &[
            // The broker's lock wait follows from the vendor timeout (2 × timeout + 5 s).
            ("TOKENBROKER_VENDOR_TIMEOUT_MS", "500"),
            ("TOKENBROKER_REQUEST_TIMEOUT_MS", "20000"),
            ("TOKENBROKER_REFRESH_AHEAD_SECS", "0"),
        ],
    )
    .await;
    rig.app.admin.create_connection(&rig.vendor.connection("locked")).await;
    let svc = rig.svc(0);
    let first = svc.access_token("locked").await;

    let pool = rig.app.db.pg_pool().await;
    let mut foreign = pool.begin().await.expect("begin");
    sqlx::query("select id from connections where id = $1 for update")
        .bind("locked")
        .fetch_one(&mut *foreign)
        .await
        .expect("take the row lock");

    let started = Instant::now();
    assert_eq!(svc.access_token("locked").await, first);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a cached token waited {:?} for the row lock",
        started.elapsed()
    );

    let started = Instant::now();
    let resp = svc.refresh_resp("locked", Some(&first)).await;
    let took = started.elapsed();
    assert_unavailable_with_retry_after(&resp);
    assert!(
        took < REQUEST_TIMEOUT - Duration::from_secs(5),
        "a refresh behind a foreign lock answered after {took:?}, near the {REQUEST_TIMEOUT:?} request timeout"
    );
    assert_eq!(rig.vendor.calls().len(), 1, "the vendor was called without the row lock");

    let waiting = {
        let svc = svc.clone();
        let first = first.clone();
        tokio::spawn(async move { svc.refresh_resp("locked", Some(&first)).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a refresh went on while another session held the row lock");
    let released = Instant::now();
    foreign.rollback().await.expect("release the row lock");
    let resp = waiting.await.expect("request task");
    let unblocked = released.elapsed();
    let token = access_token_of(&resp.expect(200));
    assert!(
        unblocked < Duration::from_secs(2),
        "the waiting refresh finished {unblocked:?} after the lock was released"
    );
    assert_ne!(token, first);
    assert_eq!(token, rig.vendor.last_access_token());
}

/// 503 problem+json with `Retry-After`. Which code is a judgment call: nothing is wrong with
/// the vendor or the database, another session is slow; both `vendor_unavailable` (a refresh
/// is in progress elsewhere) and `unavailable` tell a caller what to do: come back later.
fn assert_unavailable_with_retry_after(resp: &Resp) {
    assert_eq!(resp.status, 503, "expected 503 behind a held lock, got {}: {}", resp.status, resp.body);
    let code = resp.json()["code"].as_str().unwrap_or_default().to_owned();
    assert!(code == "vendor_unavailable" || code == "unavailable", "503 with code {code:?}: {}", resp.body);
    crate::harness::assert_problem(resp, 503, &code);
    let retry_after = resp.header("retry-after").unwrap_or_else(|| panic!("503 without Retry-After: {}", resp.body));
    assert!(retry_after.trim().parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After: {retry_after:?}");
}
