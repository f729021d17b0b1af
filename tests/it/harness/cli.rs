//! One-shot subcommands (`migrate`, `openapi`, `gen-master-key`, a `serve` that must refuse to
//! start), run to completion with a deadline so a hang is a failure, not a stuck suite.

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::broker::spawn_with_readers;

pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn describe(&self) -> String {
        format!("exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Runs `cmd` (built with `BrokerEnv::command`) to its end, at most `timeout`.
pub async fn run(cmd: Command, timeout: Duration) -> CliOutput {
    let what = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
    let (mut child, logs, readers) = spawn_with_readers(cmd);
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tokenbroker") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tokenbroker {what} still running after {timeout:?}:\n{}", logs.dump());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for reader in readers {
        let _ = reader.join();
    }
    CliOutput { status, stdout: logs.stdout().join("\n"), stderr: logs.stderr().join("\n") }
}
