//! `tokenbroker copy --to postgres://…`: the way from one embedded instance to replicas. A
//! populated SQLite installation is copied into an empty PostgreSQL database; three replicas
//! then serve every connection — cached tokens, secrets, keys and grants — with no secret
//! entered again; a second copy into the now populated target is refused.

use std::time::Duration;

use crate::fakes::{FakeOAuth2, FakeQubs, OAuth2Options};
use crate::harness::app::spawn_app_on;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::cli;
use crate::harness::client::TestClient;
use crate::harness::db::{Backend, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_installation_moves_to_postgres_and_three_replicas_serve_it() {
    let mut app = spawn_app_on(Backend::Sqlite, |_| {}).await;
    let qubs = FakeQubs::start().await;
    let generic = FakeOAuth2::start(OAuth2Options::default()).await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    app.admin.create_connection(&generic.connection("generic")).await;
    let svc = app.service(&["qubs-*", "generic"]).await;
    let service_key = svc.key().expect("service key").to_owned();
    let qubs_token = svc.access_token("qubs-main").await;
    let generic_token = svc.access_token("generic").await;
    app.stop(0).await;

    let target = TestDb::postgres().await;
    let mut copy = app.env.clone();
    copy.bootstrap_admin_key = None;
    let out = cli::run(copy.command(&["copy", "--to", &target.url]), Duration::from_secs(60)).await;
    assert!(out.status.success(), "copy failed:\n{}", out.describe());
    assert!(out.stdout.contains("2 connections") && out.stdout.contains("opens"), "{}", out.stdout);

    let mut on_postgres = app.env.clone();
    on_postgres.database_url = Some(target.url.clone());
    let replicas =
        [Broker::start(&on_postgres).await, Broker::start(&on_postgres).await, Broker::start(&on_postgres).await];
    for broker in &replicas {
        let svc = TestClient::new(&broker.base_url(), Some(&service_key), Default::default());
        assert_eq!(svc.access_token("qubs-main").await, qubs_token, "the cached token did not move");
        assert_eq!(svc.access_token("generic").await, generic_token);
    }
    assert_eq!((qubs.calls(), generic.calls()), (1, 1), "a copied token was fetched again");
    // The secrets moved too: a forced refresh on any replica uses them, with no secret re-entered.
    let admin =
        TestClient::new(&replicas[2].base_url(), on_postgres.bootstrap_admin_key.as_deref(), Default::default());
    assert_eq!(admin.refresh("qubs-main", None).await, qubs.current_token());
    assert_eq!(admin.refresh("generic", None).await, generic.current_token());
    assert_eq!(qubs.wrong_credential_calls() + generic.wrong_credential_calls(), 0);

    let again = cli::run(copy.command(&["copy", "--to", &target.url]), Duration::from_secs(60)).await;
    assert!(
        !again.status.success() && again.combined().contains("not empty"),
        "a copy into a populated database must be refused:\n{}",
        again.describe()
    );
}

#[tokio::test]
async fn copy_refuses_a_target_it_cannot_reach_and_says_where() {
    let source = TestDb::on(Backend::Sqlite).await;
    let env = BrokerEnv::new(&source.url);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let to = format!("postgres://postgres@{closed}/tb");
    let out = cli::run(env.command(&["copy", "--to", &to]), Duration::from_secs(30)).await;
    assert!(
        !out.status.success() && out.combined().contains("refused") && out.combined().contains(&closed.to_string()),
        "copy should say the target refused the connection, and where:\n{}",
        out.describe()
    );
}
