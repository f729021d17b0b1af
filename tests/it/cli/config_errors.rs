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
async fn serve_and_migrate_refuse_a_database_url_they_do_not_know() {
    for (command, url) in [("serve", "mysql://root@127.0.0.1/tb"), ("migrate", "sqlite::memory:"), ("serve", "x.db")] {
        let mut env = BrokerEnv::empty();
        env.database_url = Some(url.into());
        env.master_keys = Some(crate::harness::random::master_key());
        let out = cli::run(env.command(&[command]), AT_ONCE).await;
        assert_refused(&out, "DATABASE_URL");
    }
}

#[tokio::test]
async fn serve_on_postgres_without_master_keys_names_the_variable() {
    let db = TestDb::postgres().await;
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

/// Database problems at start say what is wrong and what to do, once, without driver noise.
#[tokio::test]
async fn database_problems_at_start_name_host_port_database_and_the_fix() {
    let server = std::env::var("DATABASE_URL").expect("these tests run with DATABASE_URL");
    let server = url::Url::parse(&server).expect("DATABASE_URL is a URL");
    let host = server.host_str().expect("host").to_owned();
    let port = server.port().unwrap_or(5432);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let cases = [
        (format!("postgres://postgres@{closed}/postgres"), vec!["connection refused".to_owned(), closed.to_string()]),
        (
            format!("postgres://postgres@{host}:{port}/tb_no_such_db"),
            vec!["does not exist".to_owned(), format!("createdb -h {host} -p {port} -U postgres tb_no_such_db")],
        ),
        (
            format!("postgres://tb_no_such_role@{host}:{port}/postgres"),
            vec!["tb_no_such_role".to_owned(), format!("{host}:{port}")],
        ),
    ];
    for (url, expected) in cases {
        let mut env = BrokerEnv::empty();
        env.database_url = Some(url.clone());
        env.master_keys = Some(crate::harness::random::master_key());
        let out = cli::run(env.command(&["serve"]), AT_ONCE).await;
        assert!(!out.status.success(), "{url}: started:\n{}", out.describe());
        let said = out.combined();
        for words in &expected {
            assert!(said.contains(words.as_str()), "{url}: the message should say {words:?}:\n{}", out.describe());
        }
        assert!(!said.contains("at line"), "{url}: driver noise in the message:\n{}", out.describe());
        assert_eq!(said.trim().lines().count(), 1, "{url}: one event per failure:\n{}", out.describe());
    }
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
