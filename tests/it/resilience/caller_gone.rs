//! The caller gives up in the middle of a refresh — here the broker's own request timeout
//! fires while the vendor is still answering. The vendor has rotated the single-use refresh
//! token by then, so dropping its answer with the request would lose the only refresh token a
//! connection without a primary grant has: it would need an admin. The refresh must finish and
//! be committed whoever stopped waiting for it.

use std::time::Duration;

use super::setup::Rig;
use crate::harness::api::access_token_of;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_caller_timed_out_is_still_committed() {
    let rig = Rig::start_on_postgres(
        1,
        &[
            // The request timeout must exceed the vendor timeout, so the refresh is made to
            // start late (behind a row lock) for the request to end while the vendor answers.
            ("TOKENBROKER_VENDOR_TIMEOUT_MS", "2000"),
            ("TOKENBROKER_REQUEST_TIMEOUT_MS", "3000"),
            ("TOKENBROKER_REFRESH_AHEAD_SECS", "0"),
        ],
    )
    .await;
    let (body, _seeded) = rig.vendor.refresh_only_connection("impatient");
    rig.app.admin.create_connection(&body).await;
    let svc = rig.svc(0);
    let first = svc.access_token("impatient").await;

    let pool = rig.app.db.pg_pool().await;
    let mut foreign = pool.begin().await.expect("begin");
    sqlx::query("select id from connections where id = 'impatient' for update")
        .fetch_one(&mut *foreign)
        .await
        .expect("take the row lock");
    rig.vendor.hold_refreshes();
    let impatient = {
        let (svc, first) = (svc.clone(), first.clone());
        tokio::spawn(async move { svc.refresh_resp("impatient", Some(&first)).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    foreign.rollback().await.expect("release the row lock");
    rig.vendor.wait_parked(1, Duration::from_secs(5)).await;
    let in_flight = rig.vendor.presented().last().cloned().expect("a refresh token in flight");
    let resp = impatient.await.expect("request task");
    assert_eq!(resp.status, 503, "the request should have timed out while the vendor held its answer: {}", resp.body);
    rig.vendor.release();

    // The token the vendor issued for the abandoned refresh is the current one: no new call.
    let calls = rig.vendor.calls().len();
    let issued = rig.vendor.last_access_token();
    let resp = svc.refresh_resp("impatient", Some(&first)).await;
    assert_eq!(
        resp.status, 200,
        "after a refresh whose caller timed out the connection lost its refresh token: {}",
        resp.body
    );
    assert_eq!(access_token_of(&resp.json()), issued, "the abandoned refresh's token was not committed");
    assert_eq!(rig.vendor.calls().len(), calls, "the vendor was called again: the abandoned refresh was lost");

    // And the rotated refresh token it brought is the one used next.
    assert_eq!(svc.refresh("impatient", Some(&issued)).await, rig.vendor.last_access_token());
    let presented = rig.vendor.presented();
    assert_ne!(presented.last(), Some(&in_flight));
    assert!(rig.vendor.reuse_events().is_empty(), "reuse events: {}", rig.vendor.reuse_events().len());
}
