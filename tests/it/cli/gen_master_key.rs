//! `gen-master-key` must print an entry `TOKENBROKER_MASTER_KEYS` accepts as is.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::cli;
use crate::harness::db::TestDb;

async fn gen_master_key() -> String {
    let out = cli::run(BrokerEnv::empty().command(&["gen-master-key"]), Duration::from_secs(15)).await;
    assert!(out.status.success(), "gen-master-key failed:\n{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "gen-master-key should print exactly one line (the entry) on stdout:\n{}",
        out.describe()
    );
    lines[0].trim().to_owned()
}

#[tokio::test]
async fn prints_id_colon_base64_of_32_bytes() {
    let entry = gen_master_key().await;
    let (id, b64) = entry.split_once(':').unwrap_or_else(|| panic!("expected ID:BASE64, got {entry:?}"));
    assert!(
        !id.is_empty() && !id.contains([',', ' ', ':']),
        "the key id must be non-empty and usable in a comma-separated list: {entry:?}"
    );
    let key = STANDARD.decode(b64).unwrap_or_else(|e| panic!("{b64:?} is not standard base64: {e}"));
    assert_eq!(key.len(), 32, "a master key is 32 bytes: {entry:?}");

    let other = gen_master_key().await;
    assert_ne!(entry, other, "two runs must give two different keys");
}

#[tokio::test]
async fn printed_entry_is_accepted_by_serve() {
    let entry = gen_master_key().await;
    let db = TestDb::create().await;
    let mut env = BrokerEnv::new(&db.url);
    env.master_keys = Some(entry);
    let broker = Broker::start(&env).await;
    let client = crate::harness::client::TestClient::new(&broker.base_url(), None, Default::default());
    client.get("/readyz", 200).await;
}
