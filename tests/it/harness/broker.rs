//! The broker as a real process: the binary users run, started the way operators start it
//! (`serve` plus environment), with the port learnt from its `listening` log line.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::logs::{Logs, Stream};
use super::random;

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenbroker");

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Variables a developer's shell may hold that would change what the broker does. The broker
/// gets only what a test sets.
const INHERITED_TO_REMOVE: &[&str] = &[
    "DATABASE_URL",
    "RUST_LOG",
    "RUST_LOG_STYLE",
    "NO_COLOR",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
    "PGAPPNAME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// The environment of one broker process; clone it to start replicas with the same keys.
#[derive(Clone, Debug)]
pub struct BrokerEnv {
    pub database_url: Option<String>,
    pub master_keys: Option<String>,
    pub bootstrap_admin_key: Option<String>,
    pub allow_insecure_vendor_urls: bool,
    /// Anything else, set last so it can override the above.
    pub extra: Vec<(String, String)>,
    /// Where the process runs (a relative `sqlite://` path lands here); the system's temp dir
    /// when unset.
    pub cwd: Option<std::path::PathBuf>,
}

impl BrokerEnv {
    /// What most tests want: a fresh master key, a bootstrap admin key, vendors on loopback
    /// allowed, JSON logs at debug (the most a secret could leak into), a short vendor timeout.
    pub fn new(database_url: &str) -> BrokerEnv {
        BrokerEnv {
            database_url: Some(database_url.to_owned()),
            master_keys: Some(random::master_key()),
            bootstrap_admin_key: Some(random::bootstrap_admin_key()),
            allow_insecure_vendor_urls: true,
            extra: vec![
                ("TOKENBROKER_LOG_FORMAT".into(), "json".into()),
                ("RUST_LOG".into(), "debug".into()),
                ("TOKENBROKER_VENDOR_TIMEOUT_MS".into(), "1500".into()),
                // Tests report tokens as rejected the moment they get them, to drive the refresh
                // machinery; the minimum age of such reports has tests of its own.
                ("TOKENBROKER_REJECTED_TOKEN_MIN_AGE_SECS".into(), "0".into()),
            ],
            cwd: None,
        }
    }

    /// Nothing but the variables `command` always sets: for subcommands that need no
    /// database, and for checking what `serve` does when something is missing.
    pub fn empty() -> BrokerEnv {
        BrokerEnv {
            database_url: None,
            master_keys: None,
            bootstrap_admin_key: None,
            allow_insecure_vendor_urls: false,
            extra: Vec::new(),
            cwd: None,
        }
    }

    pub fn admin_key(&self) -> &str {
        self.bootstrap_admin_key.as_deref().expect("this BrokerEnv has no bootstrap admin key")
    }

    /// A command for the binary with this environment and nothing inherited that matters.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.cwd.clone().unwrap_or_else(std::env::temp_dir));
        for (name, _) in std::env::vars_os()
            .filter_map(|(n, v)| Some((n.into_string().ok()?, v)))
            .filter(|(n, _)| n.starts_with("TOKENBROKER_"))
        {
            cmd.env_remove(name);
        }
        for name in INHERITED_TO_REMOVE {
            cmd.env_remove(name);
        }
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        if let Some(keys) = &self.master_keys {
            cmd.env("TOKENBROKER_MASTER_KEYS", keys);
        }
        if let Some(key) = &self.bootstrap_admin_key {
            cmd.env("TOKENBROKER_BOOTSTRAP_ADMIN_KEY", key);
        }
        cmd.env(
            "TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS",
            if self.allow_insecure_vendor_urls { "true" } else { "false" },
        );
        cmd.env("TOKENBROKER_LISTEN", "127.0.0.1:0");
        for (name, value) in &self.extra {
            cmd.env(name, value);
        }
        cmd
    }
}

pub struct Broker {
    child: Child,
    logs: Logs,
    pub addr: String,
    exit: Option<ExitStatus>,
}

impl Broker {
    /// Starts `tokenbroker serve` and waits for its `listening` line; panics with everything
    /// the process printed if it exits or stays silent.
    pub async fn start(env: &BrokerEnv) -> Broker {
        match Self::try_start(env).await {
            Ok(broker) => broker,
            Err(why) => panic!("{why}"),
        }
    }

    pub async fn try_start(env: &BrokerEnv) -> Result<Broker, String> {
        let (mut child, logs) = spawn_captured(env.command(&["serve"]));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(addr) = logs.listening_addr() {
                return Ok(Broker { child, logs, addr, exit: None });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Let the reader threads catch the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(format!(
                    "tokenbroker serve exited ({status}) before logging \"listening\":\n{}",
                    logs.dump()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "tokenbroker serve did not log a JSON line with fields.message=\"listening\" \
                     within {START_TIMEOUT:?}:\n{}",
                    logs.dump()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn logs(&self) -> Logs {
        self.logs.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What an orchestrator sends to stop a replica.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends `SIG<name>` (`TERM`, `INT`) with kill(1): no extra crate for one syscall.
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").args([&format!("-{name}"), &self.pid().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    pub fn has_exited(&mut self) -> bool {
        self.exit.is_some() || matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the process to exit; `None` if it is still running at the deadline.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit {
                return Some(status);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawns `cmd` with both output streams captured into one `Logs`.
pub fn spawn_captured(cmd: Command) -> (Child, Logs) {
    let (child, logs, _readers) = spawn_with_readers(cmd);
    (child, logs)
}

/// Like `spawn_captured`, with the reader threads, which end once the output is all read.
pub fn spawn_with_readers(mut cmd: Command) -> (Child, Logs, Vec<JoinHandle<()>>) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let logs = Logs::default();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(logs.capture(Stream::Stdout, out));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(logs.capture(Stream::Stderr, err));
    }
    (child, logs, readers)
}
