//! Someone with write access to the database but not the master key re-points a connection
//! (its `token_url`) at a host they control. The secrets are bound to the config they were
//! sealed with, so they fail to decrypt: the broker answers 500 and the attacker's host never
//! receives a request, let alone the secret.

use serde_json::json;

use crate::fakes::FakeQubs;
use crate::harness::db::DbHandle;
use crate::harness::{assert_problem, spawn_app};

#[tokio::test]
async fn a_connection_repointed_in_the_database_sends_its_secret_nowhere() {
    let mut app = spawn_app().await;
    let (vendor, attacker) = (FakeQubs::start().await, FakeQubs::start().await);
    app.admin.create_connection(&vendor.connection("qubs-a")).await;

    let db = app.db().await;
    let sql = match db {
        DbHandle::Postgres(_) => {
            "UPDATE connections SET config = jsonb_set(config, '{token_url}', to_jsonb($1::text)) WHERE id = 'qubs-a'"
        }
        DbHandle::Sqlite(_) => {
            "UPDATE connections SET config = json_set(config, '$.token_url', $1) WHERE id = 'qubs-a'"
        }
    };
    assert_eq!(db.execute(sql, &[&attacker.token_url()]).await, 1, "re-point token_url");

    // A process started after the change has nothing in memory to fall back on.
    let fresh = app.fresh_process().await;
    let resp = app.admin_on(fresh).token_resp("qubs-a", None).await;
    assert_problem(&resp, 500, "internal");
    assert_eq!(attacker.calls(), 0, "the re-pointed connection called the attacker's host");
    assert_eq!(vendor.calls(), 0);
    app.healthz(fresh).await;
}

#[tokio::test]
async fn a_config_change_through_the_api_reseals_and_keeps_working() {
    let mut app = spawn_app().await;
    let vendor = FakeQubs::start().await;
    app.admin.create_connection(&vendor.connection("qubs-a")).await;
    app.admin.access_token("qubs-a").await;

    // The admin's own change re-seals the secrets under the new config; the cached token goes.
    let api = "https://api.qubs.example/integrations/v1";
    let change = json!({"config": {"api_base_url": api}, "secrets": {"client_secret": vendor.client_secret()}});
    app.admin.patch("/v1/connections/qubs-a", &change, 200).await;
    let fresh = app.fresh_process().await;
    let answer = app.admin_on(fresh).get("/v1/connections/qubs-a/token", 200).await;
    assert_eq!(answer["access_token"], vendor.current_token().as_str());
    assert_eq!(answer["api_base_url"], api);
    assert_eq!(vendor.calls(), 2, "one token before the change, one after");
}
