//! Moving an installation between backends (`tokenbroker copy`): everything arrives as it was,
//! sealed bytes untouched, and a target that holds anything is refused.

use std::time::Duration;

use chrono::{DurationRound, TimeDelta, Utc};
use tokenbroker::domain::{GrantChange, NewKey, Role, TokenMeta};
use tokenbroker::ids::GrantPattern;
use tokenbroker::store::{Snapshot, Store, StoreError};

use super::{cid, create, event, open, pid};
use crate::harness::db::{Backend, TestDb};

async fn populate(store: &Store) {
    store.create_principal(&pid("svc"), Role::Service, "billing", &event("principal.create")).await.expect("principal");
    let key = NewKey { key_id: "key_1", hash: b"hash-1", expires_at: Some(Utc::now() + TimeDelta::days(1)) };
    store.create_key(&pid("svc"), key, &event("key.create")).await.expect("key");
    let pattern = GrantPattern::parse("qubs-*").expect("pattern");
    store.change_grant(GrantChange::Put, &pid("svc"), &pattern, &event("grant.put")).await.expect("grant");
    create(store, "qubs-a").await;
    create(store, "qubs-b").await;
    let now = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).expect("ms");
    let meta = TokenMeta {
        obtained_at: Some(now),
        expires_at: Some(now + TimeDelta::hours(1)),
        has_refresh_token: true,
        refresh_token_expires_at: Some(now + TimeDelta::days(7)),
    };
    let mut lease = store.lock_connection(&cid("qubs-a"), Duration::from_secs(5)).await.expect("lease");
    lease.mark_refresh_attempt(b"in-doubt").await.expect("mark");
    drop(lease);
    let mut lease = store.lock_connection(&cid("qubs-b"), Duration::from_secs(5)).await.expect("lease");
    lease.save_outcome(Some(b"sealed-state"), &meta, None).await.expect("save");
    lease.commit().await.expect("commit");
}

/// Times to the millisecond: what both backends keep.
fn comparable(s: &Snapshot) -> String {
    let ms = |t: chrono::DateTime<Utc>| t.timestamp_millis();
    let mut out = String::new();
    for p in &s.principals {
        out += &format!("principal {} {:?} {} {}\n", p.id, p.role, p.description, ms(p.created_at));
    }
    for k in &s.keys {
        out += &format!(
            "key {} {} {:?} {} {:?} {:?}\n",
            k.key_id,
            k.principal_id,
            k.key_hash,
            ms(k.created_at),
            k.expires_at.map(ms),
            k.revoked_at.map(ms)
        );
    }
    for g in &s.grants {
        out += &format!("grant {} {} {}\n", g.principal_id, g.pattern, ms(g.created_at));
    }
    for c in &s.connections {
        out += &format!(
            "connection {} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {} {} {} {}\n",
            c.id,
            c.provider,
            c.config,
            c.secret_names.join(","),
            c.secrets,
            c.token,
            c.token_meta.expires_at.map(ms),
            c.token_meta.refresh_token_expires_at.map(ms),
            c.status,
            c.last_error,
            c.failure_count,
            c.generation,
            ms(c.created_at),
            ms(c.updated_at)
        );
    }
    for a in &s.refresh_attempts {
        out += &format!("attempt {} {:?}\n", a.connection_id, a.token_hash);
    }
    for e in &s.audit {
        out += &format!("audit {} {} {:?} {} {}\n", e.id, e.action, e.connection_id, e.detail, ms(e.at));
    }
    out
}

async fn round_trip(from: Backend, to: Backend) {
    let (source_db, target_db) = (TestDb::on(from).await, TestDb::on(to).await);
    let (source, target) = (open(&source_db).await, open(&target_db).await);
    populate(&source).await;
    let snapshot = source.export().await.expect("export");
    assert_eq!(snapshot.counts().connections, 2);
    assert_eq!(snapshot.counts().refresh_attempts, 1);
    target.import(&snapshot).await.expect("import");
    assert_eq!(target.counts().await.expect("counts"), snapshot.counts(), "{from:?} → {to:?}");
    let copied = target.export().await.expect("export the copy");
    assert_eq!(comparable(&copied), comparable(&snapshot), "{from:?} → {to:?}");
    assert!(
        target.authenticate(b"hash-1").await.expect("auth").is_some_and(|a| a.grants.len() == 1),
        "{from:?} → {to:?}: the copied key does not authenticate with its grant"
    );

    // New audit events follow the copied ones.
    target.record_audit(&event("after.copy")).await.expect("audit");
    let last_copied = snapshot.audit.iter().map(|e| e.id).max().expect("events");
    let after =
        target.list_audit(&tokenbroker::domain::AuditFilter { limit: 1, ..Default::default() }).await.expect("audit");
    assert!(after[0].id > last_copied, "{from:?} → {to:?}: a new event took an old id");

    // A second copy into the same target is refused: it is not empty any more.
    let again = target.import(&snapshot).await;
    assert!(matches!(again, Err(StoreError::NotEmpty(_))), "{from:?} → {to:?}: {again:?}");
}

#[tokio::test]
async fn an_embedded_installation_moves_to_postgres_as_it_was() {
    round_trip(Backend::Sqlite, Backend::Postgres).await;
}

#[tokio::test]
async fn and_back() {
    round_trip(Backend::Postgres, Backend::Sqlite).await;
}
