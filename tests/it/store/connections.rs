//! Connections: create, read, list, delete; token state and failures written through a lease;
//! what refresh-ahead selects.

use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use tokenbroker::domain::{AuditFilter, ConnectionStatus, LastError, RecordedFailure, TokenMeta};
use tokenbroker::store::StoreError;

use super::{cid, create, event, on_both};

#[tokio::test]
async fn create_read_list_delete_with_their_audit_events() {
    on_both(|store, backend| async move {
        let created = create(&store, "a").await;
        assert_eq!(created.generation, 1, "{backend:?}");
        assert_eq!(created.config["n"], 1);
        assert_eq!(created.secret_names, vec!["client_secret"]);
        assert_eq!(created.secrets, b"sealed-secrets");
        assert_eq!(created.token.as_deref(), Some(&b"sealed-token"[..]));
        assert!(created.token_meta.has_refresh_token);
        assert_eq!(created.status, ConnectionStatus::Active);
        create(&store, "b").await;

        let again = store.get_connection(&cid("a")).await.expect("get");
        assert_eq!((again.id.as_str(), again.generation, again.created_at), ("a", 1, created.created_at));
        let ids: Vec<String> =
            store.list_connections().await.expect("list").into_iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids, ["a", "b"], "{backend:?}: listed by id");

        // A failed create writes nothing, its audit event included.
        let before = store.counts().await.expect("counts");
        let duplicate = store
            .create_connection(
                tokenbroker::domain::NewConnection {
                    id: &cid("a"),
                    provider: "qubs",
                    description: "",
                    config: &serde_json::json!({}),
                    secret_names: &[],
                    secrets: b"x",
                    token: None,
                },
                &event("connection.create"),
            )
            .await;
        assert!(matches!(duplicate, Err(StoreError::AlreadyExists("connection"))), "{backend:?}: {duplicate:?}");
        assert_eq!(store.counts().await.expect("counts"), before, "{backend:?}: a failed create left something");

        store.delete_connection(&cid("a"), &event("connection.delete")).await.expect("delete");
        assert!(matches!(store.get_connection(&cid("a")).await, Err(StoreError::NotFound("connection"))));
        let gone = store.delete_connection(&cid("a"), &event("connection.delete")).await;
        assert!(matches!(gone, Err(StoreError::NotFound("connection"))), "{backend:?}");
        let actions: Vec<String> = store
            .list_audit(&AuditFilter { limit: 10, ..AuditFilter::default() })
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["connection.delete", "connection.create", "connection.create"], "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn outcomes_are_written_through_the_lease_with_the_generation_and_backoff() {
    on_both(|store, backend| async move {
        create(&store, "a").await;
        let now = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).expect("ms");
        let meta = TokenMeta {
            obtained_at: Some(now),
            expires_at: Some(now + TimeDelta::hours(1)),
            has_refresh_token: true,
            refresh_token_expires_at: Some(now + TimeDelta::days(7)),
        };
        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        lease.save_outcome(Some(b"new-token"), &meta, None).await.expect("save");
        let record = lease.commit().await.expect("commit");
        assert_eq!(record.generation, 2, "{backend:?}");
        assert_eq!(record.token_meta, meta, "{backend:?}");
        assert_eq!(record.token.as_deref(), Some(&b"new-token"[..]));

        // A failure counts up, records the error and the wait, and can end in needs_reauth.
        let failure = RecordedFailure {
            error: LastError { at: now, code: "vendor_unavailable".into(), detail: "http 503".into() },
            status: None,
            retry_not_before: Some(now + TimeDelta::seconds(2)),
        };
        for expected in 1..=2 {
            let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
            lease.save_outcome(Some(b"new-token"), &meta, Some(&failure)).await.expect("save");
            let record = lease.commit().await.expect("commit");
            assert_eq!(record.failure_count, expected, "{backend:?}");
            assert_eq!(record.last_error.as_ref(), Some(&failure.error));
            assert_eq!(record.retry_not_before, failure.retry_not_before);
        }
        let reauth = RecordedFailure { status: Some(ConnectionStatus::NeedsReauth), retry_not_before: None, ..failure };
        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        lease.save_outcome(None, &TokenMeta::default(), Some(&reauth)).await.expect("save");
        let record = lease.commit().await.expect("commit");
        assert_eq!((record.status, record.token.is_none()), (ConnectionStatus::NeedsReauth, true), "{backend:?}");

        // Success clears the error and the backoff.
        let mut lease = store.lock_connection(&cid("a"), Duration::from_secs(5)).await.expect("lease");
        lease.save_outcome(Some(b"t"), &meta, None).await.expect("save");
        let record = lease.commit().await.expect("commit");
        assert_eq!((record.failure_count, record.last_error, record.retry_not_before), (0, None, None));
        assert_eq!(store.get_connection(&cid("a")).await.expect("get").generation, record.generation);
    })
    .await;
}

#[tokio::test]
async fn refresh_ahead_selects_used_connections_near_expiry_and_refresh_tokens_near_their_end() {
    on_both(|store, backend| async move {
        let now = Utc::now();
        let write = |id: &'static str, meta: TokenMeta| {
            let store = store.clone();
            async move {
                let mut lease = store.lock_connection(&cid(id), Duration::from_secs(5)).await.expect("lease");
                lease.save_outcome(Some(b"t"), &meta, None).await.expect("save");
                lease.commit().await.expect("commit")
            }
        };
        for id in ["fresh", "expiring", "rotating", "idle"] {
            create(&store, id).await;
        }
        let hour = TokenMeta {
            obtained_at: Some(now),
            expires_at: Some(now + TimeDelta::hours(1)),
            has_refresh_token: false,
            refresh_token_expires_at: None,
        };
        write("fresh", hour.clone()).await;
        let expiring = TokenMeta {
            obtained_at: Some(now - TimeDelta::minutes(59)),
            expires_at: Some(now + TimeDelta::seconds(30)),
            ..hour.clone()
        };
        write("expiring", expiring.clone()).await;
        write("idle", expiring).await;
        let before = write(
            "rotating",
            TokenMeta { has_refresh_token: true, refresh_token_expires_at: Some(now + TimeDelta::seconds(20)), ..hour },
        )
        .await;
        // Only used connections are kept warm; bookkeeping leaves the generation alone.
        let used = vec!["fresh".to_owned(), "expiring".to_owned(), "rotating".to_owned()];
        store.touch_connections(&used, now).await.expect("touch");
        let after = store.get_connection(&cid("rotating")).await.expect("get");
        assert_eq!(after.generation, before.generation, "{backend:?}: touching bumped the generation");

        let lead = Duration::from_secs(120);
        let rotate = Duration::from_secs(60);
        let recently = Duration::from_secs(900);
        let mut due: Vec<String> = store
            .due_connections(lead, rotate, recently, 100)
            .await
            .expect("due")
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        due.sort();
        assert_eq!(due, ["expiring", "rotating"], "{backend:?}");
    })
    .await;
}
