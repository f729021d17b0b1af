//! A broker that cannot run safely must refuse to start, at once, saying which setting to fix.

use std::time::Duration;

use crate::harness::broker::BrokerEnv;
use crate::harness::cli::{self, CliOutput};
use crate::harness::db::TestDb;

/// "At once": well before anyone would think it started.
const AT_ONCE: Duration = Duration::from_secs(15);

fn assert_refused(out: &CliOutput, naming: &str) {
    assert!(!out.status.success(), "expected a non-zero exit naming {naming}:\n{}", out.describe());
    assert!(out.combined().contains(naming), "the message should name {naming}:\n{}", out.describe());
}

#[tokio::test]
async fn serve_and_migrate_refuse_a_sqlite_database_url() {
    for command in ["serve", "migrate"] {
        let mut env = BrokerEnv::empty();
        env.database_url = Some("sqlite://x.db".into());
        env.master_keys = Some(crate::harness::random::master_key());
        let out = cli::run(env.command(&[command]), AT_ONCE).await;
        assert_refused(&out, "DATABASE_URL");
    }
}

#[tokio::test]
async fn serve_refuses_to_start_without_database_url() {
    let mut env = BrokerEnv::empty();
    env.master_keys = Some(crate::harness::random::master_key());
    let out = cli::run(env.command(&["serve"]), AT_ONCE).await;
    assert_refused(&out, "DATABASE_URL");
}

#[tokio::test]
async fn serve_on_postgres_without_master_keys_names_the_variable() {
    let db = TestDb::create().await;
    let mut env = BrokerEnv::new(&db.url);
    env.master_keys = None;
    let out = cli::run(env.command(&["serve"]), AT_ONCE).await;
    assert_refused(&out, "TOKENBROKER_MASTER_KEYS");
}

#[tokio::test]
async fn serve_refuses_a_master_key_that_is_not_32_bytes() {
    let db = TestDb::create().await;
    let mut env = BrokerEnv::new(&db.url);
    // 16 bytes: a key this short would silently weaken every stored secret.
    env.master_keys = Some("short:AAAAAAAAAAAAAAAAAAAAAA==".into());
    let out = cli::run(env.command(&["serve"]), AT_ONCE).await;
    assert_refused(&out, "TOKENBROKER_MASTER_KEYS");
}

#[tokio::test]
async fn serve_refuses_a_rate_limit_with_no_burst() {
    let db = TestDb::create().await;
    for prefix in ["TOKENBROKER_RATE_LIMIT", "TOKENBROKER_RATE_LIMIT_AUTH_FAILURES"] {
        let mut env = BrokerEnv::new(&db.url);
        // A rate with no burst would refuse every request.
        env.extra.push((format!("{prefix}_BURST"), "0".into()));
        let out = cli::run(env.command(&["serve"]), AT_ONCE).await;
        assert_refused(&out, &format!("{prefix}_BURST"));
    }
}
