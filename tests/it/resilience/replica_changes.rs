//! Admin changes reaching a replica that is busy serving the connection from memory.
//! `connections/across_replicas.rs` checks the next single request on an idle replica; here
//! replica B is under continuous load (its cached answer is in use every millisecond) while
//! an admin replaces the secrets, disables and deletes the connection through replica A. Each
//! change must show on B within 5 s (the cache TTL bound; NOTIFY makes it near-instant), and
//! once it shows, no later answer may go back to the old state (a stale read re-cached).

use std::time::{Duration, Instant};

use serde_json::json;

use super::load::{Answer, Load, spread};
use super::setup::Rig;
use crate::harness::random;

const BOUND: Duration = Duration::from_secs(5);

/// Waits until a load answer asked after `changed` satisfies `shows`; returns how long after
/// `changed` it was answered. Then checks that every answer asked after that one shows it too.
async fn propagation(load: &Load, changed: Instant, what: &str, shows: impl Fn(&Answer) -> bool) -> Duration {
    let deadline = changed + BOUND + Duration::from_secs(1);
    let first = loop {
        let answers = load.snapshot();
        if let Some(first) = answers.iter().filter(|a| a.asked >= changed && shows(a)).min_by_key(|a| a.answered) {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "{what}: replica B still answers the old way {BOUND:?} later");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = first.answered - changed;
    assert!(took <= BOUND, "{what}: replica B showed it after {took:?}");
    // Let a few more answers come, then none of them may be stale.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stale: Vec<String> =
        load.snapshot().iter().filter(|a| a.asked > first.answered && !shows(a)).map(Answer::describe).collect();
    assert!(
        stale.is_empty(),
        "{what}: replica B went back to the old state after showing the change:\n{}",
        stale.join("\n")
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_replacement_disable_and_delete_reach_a_busy_replica_within_5_seconds() {
    let rig = Rig::start(2, &[]).await;
    rig.app.admin.create_connection(&rig.vendor.connection("shared")).await;
    let old = rig.svc(1).access_token("shared").await;
    let load = Load::start(&spread(&rig.base_urls(2)[1..], 4, &rig.key, "shared", 60));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let rotated = random::secret("rotating-rotated");
    rig.vendor.set_client_secret(&rotated);
    rig.app.admin.put_secrets("shared", &json!({"client_secret": rotated})).await;
    let secrets = propagation(&load, Instant::now(), "secret replacement", |a| {
        a.status == 200 && a.access_token.as_deref().is_some_and(|t| t != old)
    })
    .await;
    assert_eq!(rig.vendor.wrong_credential_calls(), 0, "a replica called the vendor with the replaced secret");

    rig.app.admin.patch_connection("shared", &json!({"status": "disabled"})).await;
    let disable =
        propagation(&load, Instant::now(), "disable", |a| a.status == 403 && a.code.as_deref() == Some("forbidden"))
            .await;

    rig.app.admin.delete("/v1/connections/shared", 204).await;
    let delete =
        propagation(&load, Instant::now(), "delete", |a| a.status == 404 && a.code.as_deref() == Some("not_found"))
            .await;
    let answers = load.stop().await;
    eprintln!(
        "replica changes: {} answers on B; seen after {secrets:?} (secrets), {disable:?} (disable), {delete:?} (delete)",
        answers.len()
    );
}
