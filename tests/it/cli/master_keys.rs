//! Master keys as operators manage them: from a file, rotated (new key first, old still
//! listed), and `rekey` moving everything stored to the new key so the old can be retired.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::fakes::FakeQubs;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::client::TestClient;
use crate::harness::db::TestDb;
use crate::harness::{cli, random, spawn_app};

#[tokio::test]
async fn master_key_file_is_an_alternative_to_the_variable() {
    let db = TestDb::create().await;
    let entry = random::master_key();
    let path = std::env::temp_dir().join(format!("tokenbroker-keys-{}", random::hex(8)));
    std::fs::write(&path, format!("{entry}\n")).expect("write key file");
    // Master keys are readable by their owner only; anything else is refused with the fix.
    let mut loose = BrokerEnv::new(&db.url);
    loose.master_keys = None;
    loose.extra.push(("TOKENBROKER_MASTER_KEY_FILE".into(), path.display().to_string()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = cli::run(loose.command(&["serve"]), Duration::from_secs(15)).await;
    assert!(
        !out.status.success() && out.combined().contains(&format!("chmod 600 {}", path.display())),
        "a group-readable key file must be refused with the chmod to run:\n{}",
        out.describe()
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

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

    // `keys status` says the old key seals nothing any more: it may be dropped.
    let out = cli::run(rotated.command(&["keys", "status"]), Duration::from_secs(30)).await;
    assert!(out.status.success(), "keys status failed:\n{}", out.describe());
    let old_id = app.env.master_keys.as_deref().and_then(|k| k.split(':').next()).expect("old key id").to_owned();
    let old_line = out.stdout.lines().find(|l| l.starts_with(&old_id)).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(old_line.contains(" 0 ") && old_line.contains("may be dropped"), "{}", out.stdout);

    // Only the old key: the start is refused, naming the key that is missing and how many
    // values it seals, instead of a broker that is ready but answers 500 to every token call.
    let out = cli::run(old_only.command(&["serve"]), Duration::from_secs(20)).await;
    assert!(
        !out.status.success() && out.combined().contains("next (2 values)"),
        "a key ring that cannot open what is stored must stop the start, naming the missing key:\n{}",
        out.describe()
    );
    assert_eq!(qubs.calls(), 2, "a vendor call was made without a readable secret");
}
