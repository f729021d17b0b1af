//! The first admin: printed once on an empty database, or ensured from
//! `TOKENBROKER_BOOTSTRAP_ADMIN_KEY` on every start.

use std::time::{Duration, Instant};

use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::{random, spawn_app};

const PREFIX: &str = "tokenbroker: bootstrap admin API key (shown once): ";

/// The printed key, waiting a little for stderr to be read after `listening`.
async fn printed_key(broker: &Broker) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let found = broker
            .logs()
            .stderr()
            .iter()
            .find_map(|l| l.find(PREFIX).map(|at| l[at + PREFIX.len()..].trim().to_owned()));
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_api_key(key: &str) -> bool {
    key.strip_prefix("tbk_")
        .is_some_and(|rest| rest.len() == 43 && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

#[tokio::test]
async fn first_start_prints_one_admin_key_and_a_restart_does_not() {
    let db = TestDb::create().await;
    let mut env = BrokerEnv::new(&db.url);
    env.bootstrap_admin_key = None;

    let mut first = Broker::start(&env).await;
    let key = printed_key(&first)
        .await
        .unwrap_or_else(|| panic!("no `{PREFIX}tbk_…` line on stderr:\n{}", first.logs().dump()));
    assert!(is_api_key(&key), "printed key {key:?} is not tbk_ + 43 base64url chars");
    assert!(
        !first.logs().stdout().iter().any(|l| l.contains(&key)),
        "the printed key must not also appear in the log (stdout)"
    );

    let admin = TestClient::new(&first.base_url(), Some(&key), Default::default());
    admin.create_principal("after-bootstrap", "service").await;
    admin.get("/v1/principals", 200).await;

    first.sigterm();
    first.wait_exit(Duration::from_secs(10)).await;
    let second = Broker::start(&env).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reprinted: Vec<String> = second.logs().stderr().into_iter().filter(|l| l.contains("tbk_")).collect();
    assert!(reprinted.is_empty(), "a restart must not print another key: {reprinted:?}");
    TestClient::new(&second.base_url(), Some(&key), Default::default()).get("/v1/principals", 200).await;
}

#[tokio::test]
async fn configured_bootstrap_key_prints_nothing_and_ensures_one_admin() {
    let mut app = spawn_app().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !app.broker(0).logs().stderr().iter().any(|l| l.contains("tbk_")),
        "with TOKENBROKER_BOOTSTRAP_ADMIN_KEY set, no key is to be printed"
    );
    let admin = app.admin.get("/v1/principals/admin", 200).await;
    assert_eq!(admin["role"], "admin", "{admin}");

    // Ensuring is idempotent: another process with the same key adds nothing.
    let replica = app.fresh_process().await;
    let list = app.admin_on(replica).get("/v1/principals", 200).await;
    let admins = list["principals"].as_array().expect("principals array").iter().filter(|p| p["id"] == "admin").count();
    assert_eq!(admins, 1, "{list}");
}

/// A bootstrap key revoked through the API stays revoked: a restart must not undo an admin's
/// revocation (issue 12, finding 7).
#[tokio::test]
async fn a_bootstrap_key_revoked_through_the_api_stays_revoked_across_restarts() {
    let mut app = spawn_app().await;
    let keys = app.admin.get("/v1/principals/admin/keys", 200).await;
    let key_id = keys["keys"][0]["key_id"].as_str().expect("key_id").to_owned();
    // Another admin, so revoking the bootstrap key leaves someone in charge.
    app.admin.create_principal("ops", "admin").await;
    let ops = app.admin.create_key("ops").await;
    app.admin.revoke_key("admin", &key_id).await;
    app.admin.raw(reqwest::Method::GET, "/v1/principals").send().await.expect(401);

    let restarted = app.fresh_process().await;
    app.client_on(restarted, Some(app.env.admin_key()))
        .raw(reqwest::Method::GET, "/v1/principals")
        .send()
        .await
        .expect(401);
    app.client_on(restarted, Some(&ops)).get("/v1/principals", 200).await;
    let said = app.broker(restarted).logs().stdout().join("\n");
    assert!(said.contains("revoked through the API"), "the start should say the bootstrap key stays revoked:\n{said}");
}

/// Changing the variable rotates the bootstrap key: the new one works, the old one stops.
#[tokio::test]
async fn a_new_bootstrap_key_revokes_the_previous_one() {
    let mut app = spawn_app().await;
    let old = app.env.admin_key().to_owned();
    app.stop(0).await;
    let mut rotated = app.env.clone();
    rotated.bootstrap_admin_key = Some(random::bootstrap_admin_key());
    let index = app.add_replica_with(&rotated).await;
    app.client_on(index, rotated.bootstrap_admin_key.as_deref()).get("/v1/principals", 200).await;
    app.client_on(index, Some(&old)).raw(reqwest::Method::GET, "/v1/principals").send().await.expect(401);
    let keys = app.client_on(index, rotated.bootstrap_admin_key.as_deref()).get("/v1/principals/admin/keys", 200).await;
    let revoked = keys["keys"].as_array().expect("keys").iter().filter(|k| k["revoked_at"].is_string()).count();
    assert_eq!(revoked, 1, "the previous bootstrap key should be listed as revoked: {keys}");
}

/// A principal named `admin` that is a service stays a service: the bootstrap key never
/// changes an existing principal's role; the broker refuses to start and says why.
#[tokio::test]
async fn a_service_principal_named_admin_is_never_promoted() {
    let mut app = spawn_app().await;
    app.admin.create_principal("ops", "admin").await;
    let ops = app.admin.create_key("ops").await;
    let ops = app.admin.with_key(&ops);
    ops.delete("/v1/principals/admin", 204).await;
    ops.create_principal("admin", "service").await;
    app.stop(0).await;

    let out = crate::harness::cli::run(app.env.command(&["serve"]), Duration::from_secs(20)).await;
    assert!(
        !out.status.success() && out.combined().contains("never") && out.combined().contains("role service"),
        "a bootstrap key must not promote a service principal named admin:\n{}",
        out.describe()
    );
}

#[tokio::test]
async fn bootstrap_key_shorter_than_32_chars_is_refused() {
    let db = TestDb::create().await;
    let mut env = BrokerEnv::new(&db.url);
    env.bootstrap_admin_key = Some(random::hex(8));
    let out = crate::harness::cli::run(env.command(&["serve"]), Duration::from_secs(15)).await;
    assert!(
        !out.status.success() && out.combined().contains("TOKENBROKER_BOOTSTRAP_ADMIN_KEY"),
        "a 16-character bootstrap key must be refused, naming the variable:\n{}",
        out.describe()
    );
}
