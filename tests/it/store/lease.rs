//! The lease contract (src/store/lease.rs): one holder at a time across every process sharing
//! the database, writes visible together at commit or not at all, and the in-doubt marker
//! durable the moment it is written, whatever becomes of the lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokenbroker::domain::{AuditFilter, ConnectionChange, TokenMeta};
use tokenbroker::store::{Store, StoreError};

use super::{cid, create, event, on_both, open};
use crate::harness::db::{Backend, TestDb};

/// Each holder reads a counter kept in the row, yields, and writes it back plus one: without
/// mutual exclusion, increments are lost. `stores` are the processes (PostgreSQL: several pools,
/// as replicas have; SQLite: one, as only one process may open the file).
async fn increment_under_contention(stores: Vec<Store>, holders: usize) -> i64 {
    let inside = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..holders {
        let (store, inside) = (stores[i % stores.len()].clone(), inside.clone());
        tasks.push(tokio::spawn(async move {
            let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(30)).await.expect("lease");
            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of one lease");
            let n: i64 = lease.record().description.parse().expect("counter");
            tokio::time::sleep(Duration::from_millis(2)).await;
            let next = (n + 1).to_string();
            lease
                .apply(&ConnectionChange { description: Some(&next), ..ConnectionChange::default() })
                .await
                .expect("apply");
            inside.fetch_sub(1, Ordering::SeqCst);
            lease.commit().await.expect("commit");
        }));
    }
    for task in tasks {
        task.await.expect("holder");
    }
    stores[0].get_connection(&cid("a")).await.expect("get").description.parse().expect("counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_even_across_processes() {
    // SQLite: many holders in the one process that owns the file.
    let db = TestDb::on(Backend::Sqlite).await;
    let store = open(&db).await;
    create(&store, "a").await;
    assert_eq!(increment_under_contention(vec![store], 40).await, 40);

    // PostgreSQL: three independent pools, as three replicas would hold.
    let db = TestDb::on(Backend::Postgres).await;
    let stores = vec![open(&db).await, open(&db).await, open(&db).await];
    create(&stores[0], "a").await;
    assert_eq!(increment_under_contention(stores, 40).await, 40);
}

#[tokio::test]
async fn a_held_lease_is_skipped_by_background_work_and_waited_for_at_most_so_long() {
    on_both(|store, backend| async move {
        create(&store, "a").await;
        let held = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        let skipped = store.try_lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("try");
        assert!(skipped.is_none(), "{backend:?}: try_lock got a held lease");
        let waited = store.lock_connection(&cid("a"), Duration::from_millis(200)).await;
        assert!(matches!(waited, Err(StoreError::LockTimeout)), "{backend:?}: {:?}", waited.err());
        held.release().await.expect("release");
        let free = store.try_lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("try");
        assert!(free.is_some(), "{backend:?}: a released lease stayed taken");
        assert!(store.try_lock_connection(&cid("nope"), Duration::from_secs(1)).await.expect("try").is_none());
    })
    .await;
}

#[tokio::test]
async fn writes_through_a_lease_land_together_at_commit_or_not_at_all() {
    on_both(|store, backend| async move {
        create(&store, "a").await;
        let filter = AuditFilter { limit: 10, ..AuditFilter::default() };
        let audit = || store.list_audit(&filter);
        let events_before = audit().await.expect("audit").len();

        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        lease
            .apply(&ConnectionChange { description: Some("changed"), ..ConnectionChange::default() })
            .await
            .expect("apply");
        lease.audit(&event("connection.update")).await.expect("audit");
        lease.release().await.expect("release");
        assert_eq!(store.get_connection(&cid("a")).await.expect("get").description, "0", "{backend:?}");
        assert_eq!(
            audit().await.expect("audit").len(),
            events_before,
            "{backend:?}: an audit event outlived its change"
        );

        // Dropped without a word (a crash, a cancelled task): the same.
        {
            let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
            lease
                .apply(&ConnectionChange { description: Some("changed"), ..ConnectionChange::default() })
                .await
                .expect("apply");
        }
        assert_eq!(store.get_connection(&cid("a")).await.expect("get").description, "0", "{backend:?}");

        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        lease
            .apply(&ConnectionChange { description: Some("changed"), ..ConnectionChange::default() })
            .await
            .expect("apply");
        lease.audit(&event("connection.update")).await.expect("audit");
        let committed = lease.commit().await.expect("commit");
        assert_eq!((committed.description.as_str(), committed.generation), ("changed", 2));
        assert_eq!(audit().await.expect("audit").len(), events_before + 1, "{backend:?}");
    })
    .await;
}

/// A crash between the marker and the outcome: the marker is there for the next holder, who
/// must treat that refresh token as spent; the outcome's commit clears it.
#[tokio::test]
async fn the_in_doubt_marker_outlives_a_lease_that_never_commits() {
    on_both(|store, backend| async move {
        create(&store, "a").await;
        {
            let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
            assert_eq!(lease.refresh_attempt().await.expect("read"), None);
            lease.mark_refresh_attempt(b"hash-of-rt-1").await.expect("mark");
            // The vendor call would happen here; the process dies before the outcome.
        }
        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        assert_eq!(lease.refresh_attempt().await.expect("read").as_deref(), Some(&b"hash-of-rt-1"[..]), "{backend:?}");
        assert_eq!(store.counts().await.expect("counts").refresh_attempts, 1);
        // The next attempt (with a new token) replaces the marker, then its outcome ends it.
        lease.mark_refresh_attempt(b"hash-of-rt-2").await.expect("mark");
        lease.save_outcome(Some(b"t"), &TokenMeta::default(), None).await.expect("save");
        lease.commit().await.expect("commit");
        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        assert_eq!(lease.refresh_attempt().await.expect("read"), None, "{backend:?}: the outcome left its marker");
        lease.release().await.expect("release");

        // Deleting the connection takes its marker along.
        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        lease.mark_refresh_attempt(b"hash-of-rt-3").await.expect("mark");
        drop(lease);
        store.delete_connection(&cid("a"), &event("connection.delete")).await.expect("delete");
        assert_eq!(store.counts().await.expect("counts").refresh_attempts, 0, "{backend:?}");
    })
    .await;
}
