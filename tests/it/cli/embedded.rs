//! The embedded default, as a newcomer meets it: no DATABASE_URL and no master key set.
//! `serve` makes `tokenbroker.db` and a key file beside it (mode 0600, said in the log), one
//! process owns the file (a second is refused, naming PostgreSQL), a restart reuses the key
//! file, and a lost or over-readable key file stops the start instead of orphaning secrets.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::fakes::FakeQubs;
use crate::harness::broker::{Broker, BrokerEnv};
use crate::harness::cli;
use crate::harness::client::TestClient;
use crate::harness::random;

/// A directory of the test's own, removed afterwards.
struct Dir(std::path::PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("tbtest-embedded-{}", random::hex(8)));
        std::fs::create_dir_all(&dir).expect("create test dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Nothing but what a newcomer would set: the broker picks its defaults.
fn newcomer(dir: &Dir) -> BrokerEnv {
    let mut env = BrokerEnv::empty();
    env.cwd = Some(dir.0.clone());
    env.bootstrap_admin_key = Some(random::bootstrap_admin_key());
    env.allow_insecure_vendor_urls = true;
    env.extra.push(("TOKENBROKER_LOG_FORMAT".into(), "json".into()));
    env
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn serve_with_no_settings_runs_on_an_embedded_database_with_a_key_file_beside_it() {
    let dir = Dir::new();
    let env = newcomer(&dir);
    let broker = Broker::start(&env).await;
    let (db, keys) = (dir.0.join("tokenbroker.db"), dir.0.join("tokenbroker.keys"));
    assert!(db.exists(), "no tokenbroker.db in the working directory");
    assert_eq!(mode(&keys), 0o600, "the key file must be readable by its owner only");
    assert_eq!(mode(&db), 0o600, "the database holds sealed secrets: owner only");
    let said = broker.logs().stdout().join("\n");
    assert!(
        said.contains("tokenbroker.keys") && said.contains("production"),
        "the start should say where the key file is and that production keeps keys elsewhere:\n{said}"
    );

    let admin = TestClient::new(&broker.base_url(), env.bootstrap_admin_key.as_deref(), Default::default());
    admin.get("/readyz", 200).await;
    let qubs = FakeQubs::start().await;
    admin.create_connection(&qubs.connection("qubs-main")).await;
    let token = admin.access_token("qubs-main").await;

    // One process owns the file; the second is told to use PostgreSQL for replicas.
    let out = cli::run(env.command(&["serve"]), Duration::from_secs(15)).await;
    assert!(
        !out.status.success() && out.combined().contains("PostgreSQL") && out.combined().contains("in use"),
        "a second process on the same file must be refused, naming PostgreSQL:\n{}",
        out.describe()
    );

    // A restart reuses the key file: what was sealed still opens, the token was kept.
    drop(broker);
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), env.bootstrap_admin_key.as_deref(), Default::default());
    assert_eq!(admin.access_token("qubs-main").await, token);
    assert_eq!(qubs.calls(), 1);
}

#[tokio::test]
async fn a_lost_or_over_readable_key_file_stops_the_start_instead_of_orphaning_secrets() {
    let dir = Dir::new();
    let env = newcomer(&dir);
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), env.bootstrap_admin_key.as_deref(), Default::default());
    let qubs = FakeQubs::start().await;
    admin.create_connection(&qubs.connection("qubs-main")).await;
    drop(broker);

    let keys = dir.0.join("tokenbroker.keys");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = cli::run(env.command(&["serve"]), Duration::from_secs(15)).await;
    assert!(
        !out.status.success() && out.combined().contains("chmod 600"),
        "a key file others can read must be refused with the chmod to run:\n{}",
        out.describe()
    );

    let kept = std::fs::read(&keys).expect("read key file");
    std::fs::remove_file(&keys).expect("remove key file");
    let out = cli::run(env.command(&["serve"]), Duration::from_secs(15)).await;
    assert!(
        !out.status.success() && out.combined().contains("missing") && out.combined().contains("tokenbroker.keys"),
        "a database with sealed values and no key file must not get a new key:\n{}",
        out.describe()
    );
    assert!(!keys.exists(), "a new key file was made for a database sealed under another");

    // Put back, it serves again.
    std::fs::write(&keys, kept).expect("restore key file");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let broker = Broker::start(&env).await;
    let admin = TestClient::new(&broker.base_url(), env.bootstrap_admin_key.as_deref(), Default::default());
    assert_eq!(admin.access_token("qubs-main").await, qubs.current_token());
}
