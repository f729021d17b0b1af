//! Master keys as operators manage them: from a file, rotated (new key first, old still
//! listed), and `rekey` moving everything stored to the new key so the old can be retired.

use std::time::Duration;

use crate::fakes::FakeQubs;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::{assert_problem, cli, random, spawn_app};

#[tokio::test]
async fn master_key_file_is_an_alternative_to_the_variable() {
    let db = TestDb::create().await;
    let entry = random::master_key();
    let path = std::env::temp_dir().join(format!("tokenbroker-keys-{}", random::hex(8)));
    std::fs::write(&path, format!("{entry}\n")).expect("write key file");

    let mut from_file = BrokerEnv::new(&db.url);
    from_file.master_keys = None;
    from_file.extra.push(("TOKENBROKER_MASTER_KEY_FILE".into(), path.display().to_string()));
    let broker = Broker::start(&from_file).await;
    let admin = TestClient::new(&broker.base_url(), Some(from_file.admin_key()), Default::default());
    let qubs = FakeQubs::start().await;
    admin.create_connection(&qubs.connection("qubs-main")).await;
    admin.token("qubs-main").await;
    drop(broker);
    let _ = std::fs::remove_file(&path);

    // The same key given in the variable reads what was written with the file.
    let mut from_var = from_file.clone();
    from_var.extra.retain(|(name, _)| name != "TOKENBROKER_MASTER_KEY_FILE");
    from_var.master_keys = Some(entry);
    let broker = Broker::start(&from_var).await;
    let admin = TestClient::new(&broker.base_url(), Some(from_var.admin_key()), Default::default());
    admin.refresh("qubs-main", None).await;
    assert_eq!(qubs.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn rotation_and_rekey_retire_the_old_key() {
    let mut app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    let cached = app.admin.access_token("qubs-main").await;
    app.stop(0).await;

    let old = app.env.master_keys.clone().expect("master keys");
    let new = random::master_key_with_id("next");
    let mut rotated = app.env.clone();
    rotated.master_keys = Some(format!("{new},{old}"));
    let mut new_only = app.env.clone();
    new_only.master_keys = Some(new);
    let mut old_only = app.env.clone();
    old_only.master_keys = Some(old);

    // New key first, old still listed: what the old key wrote still reads.
    let during = app.add_replica_with(&rotated).await;
    assert_eq!(app.admin_on(during).access_token("qubs-main").await, cached);
    app.stop(during).await;

    let out = cli::run(rotated.command(&["rekey"]), Duration::from_secs(60)).await;
    assert!(out.status.success(), "rekey failed:\n{}", out.describe());

    // Only the new key: the secret and the cached token were both re-encrypted.
    let after = app.add_replica_with(&new_only).await;
    assert_eq!(app.admin_on(after).access_token("qubs-main").await, cached, "the cached token was lost by rekey");
    assert_eq!(qubs.calls(), 1);
    let refreshed = app.admin_on(after).refresh("qubs-main", None).await;
    assert_eq!(refreshed, qubs.current_token());
    assert_eq!(qubs.wrong_credential_calls(), 0);
    app.stop(after).await;

    // Only the old key: nothing is readable any more, and it fails closed.
    let stale = app.add_replica_with(&old_only).await;
    let resp = app.admin_on(stale).token_resp("qubs-main", None).await;
    assert_problem(&resp, 500, "internal");
    assert_eq!(qubs.calls(), 2, "a vendor call was made without a readable secret");
}
