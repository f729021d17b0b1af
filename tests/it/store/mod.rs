//! The store contract, run against both backends: the same operations, the same answers, the
//! same guarantees (audit in the same transaction, the lease under contention, in-doubt markers
//! that survive a lease that never commits). Each test runs its body on a fresh SQLite file and
//! a fresh PostgreSQL database.

mod connections;
mod copy;
mod lease;
mod principals;

use std::future::Future;

use secrecy::SecretString;
use tokenbroker::domain::{AuditEvent, NewConnection, TokenMeta};
use tokenbroker::ids::{ConnectionId, PrincipalId};
use tokenbroker::store::Store;

use crate::harness::db::{Backend, TestDb};

/// A migrated store on `db`.
pub async fn open(db: &TestDb) -> Store {
    let store = Store::open(&SecretString::from(db.url.clone()), 4).await.expect("open the store");
    store.migrate().await.expect("migrate");
    store
}

/// Runs `body` on each backend, with a fresh database each time.
pub async fn on_both<F, Fut>(body: F)
where
    F: Fn(Store, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::on(backend).await;
        body(open(&db).await, backend).await;
    }
}

pub fn cid(id: &str) -> ConnectionId {
    ConnectionId::parse("id", id).expect("connection id")
}

pub fn pid(id: &str) -> PrincipalId {
    PrincipalId::parse("id", id).expect("principal id")
}

pub fn event(action: &'static str) -> AuditEvent {
    AuditEvent::success(None, action, serde_json::json!({"test": true}))
}

/// Creates connection `id` with stand-in sealed bytes (the store never looks inside them).
pub async fn create(store: &Store, id: &str) -> tokenbroker::domain::ConnectionRecord {
    let id = cid(id);
    let config = serde_json::json!({"client_id": "c", "token_url": "https://vendor.example/token", "n": 1});
    let names = vec!["client_secret".to_owned()];
    store
        .create_connection(
            NewConnection {
                id: &id,
                provider: "qubs",
                description: "0",
                config: &config,
                secret_names: &names,
                secrets: b"sealed-secrets",
                token: Some((b"sealed-token", TokenMeta { has_refresh_token: true, ..TokenMeta::default() })),
            },
            &event("connection.create"),
        )
        .await
        .expect("create connection")
}
