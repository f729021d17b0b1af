//! Principals, keys and grants, with the rules that protect them: keys found by hash with their
//! grants, revocation, cascades, the last admin, and bootstrap keys that rotate but never promote.

use tokenbroker::domain::{GrantChange, NewKey, Role};
use tokenbroker::ids::GrantPattern;
use tokenbroker::store::{Bootstrapped, StoreError};

use super::{event, on_both, pid};

#[tokio::test]
async fn keys_authenticate_with_their_grants_until_revoked_and_go_with_their_principal() {
    on_both(|store, backend| async move {
        store
            .create_principal(&pid("svc"), Role::Service, "billing", &event("principal.create"))
            .await
            .expect("create");
        let dup = store.create_principal(&pid("svc"), Role::Service, "", &event("principal.create")).await;
        assert!(matches!(dup, Err(StoreError::AlreadyExists("principal"))), "{backend:?}");
        let key = NewKey { key_id: "key_1", hash: b"hash-1", expires_at: None };
        store.create_key(&pid("svc"), key, &event("key.create")).await.expect("key");
        let orphan = NewKey { key_id: "key_2", hash: b"hash-2", expires_at: None };
        let missing = store.create_key(&pid("nobody"), orphan, &event("key.create")).await;
        assert!(matches!(missing, Err(StoreError::NotFound("principal"))), "{backend:?}");
        for pattern in ["qflow-main", "qbench-*", "qflow-main"] {
            let pattern = GrantPattern::parse(pattern).expect("pattern");
            store.change_grant(GrantChange::Put, &pid("svc"), &pattern, &event("grant.put")).await.expect("grant");
        }
        let found = store.authenticate(b"hash-1").await.expect("auth").expect("known key");
        assert_eq!(found.principal_id.as_str(), "svc");
        assert_eq!(found.role, Role::Service);
        let grants: Vec<&str> = found.grants.iter().map(GrantPattern::as_str).collect();
        assert_eq!(grants, ["qbench-*", "qflow-main"], "{backend:?}: sorted, without duplicates");
        assert!(store.authenticate(b"unknown").await.expect("auth").is_none());

        store.revoke_key(&pid("svc"), "key_1", &event("key.revoke")).await.expect("revoke");
        store.revoke_key(&pid("svc"), "key_1", &event("key.revoke")).await.expect("revoking twice is fine");
        assert!(store.authenticate(b"hash-1").await.expect("auth").expect("kept").revoked_at.is_some());

        store.delete_principal(&pid("svc"), &event("principal.delete")).await.expect("delete");
        assert!(store.authenticate(b"hash-1").await.expect("auth").is_none(), "{backend:?}: keys go with it");
        assert_eq!(store.counts().await.expect("counts").grants, 0, "{backend:?}: grants go with it");
    })
    .await;
}

#[tokio::test]
async fn the_last_admin_stays() {
    on_both(|store, backend| async move {
        store.create_principal(&pid("root"), Role::Admin, "", &event("principal.create")).await.expect("create");
        let refused = store.delete_principal(&pid("root"), &event("principal.delete")).await;
        assert!(matches!(refused, Err(StoreError::LastAdmin(_))), "{backend:?}: {refused:?}");
        store.create_principal(&pid("ops"), Role::Admin, "", &event("principal.create")).await.expect("create");
        store.delete_principal(&pid("root"), &event("principal.delete")).await.expect("a second admin remains");
    })
    .await;
}

#[tokio::test]
async fn bootstrap_keys_rotate_stay_revoked_and_never_promote() {
    on_both(|store, backend| async move {
        assert!(store.bootstrap_if_empty("first", b"first-hash").await.expect("first start"));
        assert!(!store.bootstrap_if_empty("again", b"again-hash").await.expect("second start"), "{backend:?}");

        let added = store.ensure_bootstrap_admin("bootstrap_a", b"hash-a").await.expect("a");
        assert_eq!(added, Bootstrapped::Added { revoked: vec![] });
        assert_eq!(store.ensure_bootstrap_admin("bootstrap_a", b"hash-a").await.expect("a"), Bootstrapped::Unchanged);
        let rotated = store.ensure_bootstrap_admin("bootstrap_b", b"hash-b").await.expect("b");
        assert_eq!(rotated, Bootstrapped::Added { revoked: vec!["bootstrap_a".to_owned()] }, "{backend:?}");
        assert!(store.authenticate(b"hash-a").await.expect("auth").expect("kept").revoked_at.is_some());
        assert!(store.authenticate(b"first-hash").await.expect("auth").expect("kept").revoked_at.is_none());

        store.revoke_key(&pid("admin"), "bootstrap_b", &event("key.revoke")).await.expect("revoke");
        assert_eq!(store.ensure_bootstrap_admin("bootstrap_b", b"hash-b").await.expect("b"), Bootstrapped::Revoked);
        assert!(store.authenticate(b"hash-b").await.expect("auth").expect("kept").revoked_at.is_some(), "{backend:?}");

        store.create_principal(&pid("ops"), Role::Admin, "", &event("principal.create")).await.expect("ops");
        store.delete_principal(&pid("admin"), &event("principal.delete")).await.expect("delete admin");
        store.create_principal(&pid("admin"), Role::Service, "", &event("principal.create")).await.expect("service");
        let refused = store.ensure_bootstrap_admin("bootstrap_c", b"hash-c").await;
        assert!(matches!(refused, Err(StoreError::Bootstrap(_))), "{backend:?}: {refused:?}");
        assert_eq!(store.get_principal(&pid("admin")).await.expect("get").role, Role::Service);
    })
    .await;
}
