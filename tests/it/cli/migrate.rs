//! `migrate` prepares a database for `serve` and can be run again (every deploy runs it).

use std::time::Duration;

use crate::harness::db::DbHandle;

use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::cli;
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;

async fn tables(db: &DbHandle) -> Vec<String> {
    match db {
        DbHandle::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            )
            .fetch_all(pool)
            .await
        }
        DbHandle::Sqlite(pool) => {
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1").fetch_all(pool).await
        }
    }
    .expect("list tables")
}

#[tokio::test]
async fn migrate_exits_zero_and_is_idempotent() {
    let db = TestDb::create().await;
    let env = BrokerEnv::new(&db.url);
    let first = cli::run(env.command(&["migrate"]), Duration::from_secs(60)).await;
    let pool = db.handle().await;
    assert!(first.status.success(), "first migrate:\n{}", first.describe());
    let after_first = tables(&pool).await;
    assert!(
        after_first.iter().any(|t| t == "connections"),
        "migrate should create the schema (a `connections` table); tables: {after_first:?}"
    );

    let second = cli::run(env.command(&["migrate"]), Duration::from_secs(60)).await;
    assert!(second.status.success(), "second migrate:\n{}", second.describe());
    assert_eq!(tables(&pool).await, after_first, "a second migrate changed the schema");

    let broker = Broker::start(&env).await;
    TestClient::new(&broker.base_url(), None, Default::default()).get("/readyz", 200).await;
}

/// Rolling upgrades: once the new release's migrate has run, a replica of the previous release
/// that restarts (or a rollback) must still start, not stop at a migration it does not know.
#[tokio::test]
async fn an_older_release_starts_on_a_database_a_newer_release_migrated() {
    let db = TestDb::create().await;
    let env = BrokerEnv::new(&db.url);
    let first = cli::run(env.command(&["migrate"]), Duration::from_secs(60)).await;
    assert!(first.status.success(), "migrate:\n{}", first.describe());
    let handle = db.handle().await;
    let checksum = match handle {
        DbHandle::Postgres(_) => "'\\x00'",
        DbHandle::Sqlite(_) => "x'00'",
    };
    let sql = format!(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
         values (99990101000000, 'added by a newer release', true, {checksum}, 1)"
    );
    assert_eq!(handle.execute(&sql, &[]).await, 1, "record a newer release's migration");

    let again = cli::run(env.command(&["migrate"]), Duration::from_secs(60)).await;
    assert!(again.status.success(), "migrate after a newer release's:\n{}", again.describe());
    let broker = Broker::start(&env).await;
    TestClient::new(&broker.base_url(), None, Default::default()).get("/readyz", 200).await;
}
