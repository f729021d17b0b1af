//! The admin CLI as an operator runs it: the real binary, with `TOKENBROKER_URL` and
//! `TOKENBROKER_API_KEY` in its environment (never its arguments), stdin piped when a test
//! feeds it a body or a secret, stdout kept byte for byte.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::TestApp;
use super::broker::BrokerEnv;

const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AdminCli {
    pub url: String,
    key: Option<String>,
}

#[derive(Debug)]
pub struct CliRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    pub fn describe(&self) -> String {
        format!("exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.status, self.stdout, self.stderr)
    }

    /// Asserts a failure reported on exactly one stderr line starting `error: `, with nothing
    /// on stdout; returns that line.
    pub fn one_line_error(&self) -> String {
        assert!(!self.status.success(), "expected a failure:\n{}", self.describe());
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("error: "),
            "an error must be one stderr line starting `error: `:\n{}",
            self.describe()
        );
        assert!(self.stdout.is_empty(), "nothing on stdout after a failure:\n{}", self.describe());
        lines[0].to_owned()
    }
}

impl AdminCli {
    pub fn new(url: &str, key: Option<&str>) -> AdminCli {
        AdminCli { url: url.to_owned(), key: key.map(str::to_owned) }
    }

    /// The CLI pointed at `app`'s first broker, acting as its bootstrap admin.
    pub fn admin_of(app: &TestApp) -> AdminCli {
        AdminCli { url: app.broker(0).base_url(), key: Some(app.env.admin_key().to_owned()) }
    }

    pub fn with_key(&self, key: &str) -> AdminCli {
        AdminCli { key: Some(key.to_owned()), ..self.clone() }
    }

    pub fn with_url(&self, url: &str) -> AdminCli {
        AdminCli { url: url.to_owned(), ..self.clone() }
    }

    pub fn without_key(&self) -> AdminCli {
        AdminCli { key: None, ..self.clone() }
    }

    /// The command, nothing of the test's own environment that matters inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = BrokerEnv::empty().command(args);
        cmd.env("TOKENBROKER_URL", &self.url);
        if let Some(key) = &self.key {
            cmd.env("TOKENBROKER_API_KEY", key);
        }
        cmd
    }

    /// Runs to the end with nothing on stdin.
    pub async fn run(&self, args: &[&str]) -> CliRun {
        self.spawn(args).finish(None).await
    }

    /// Runs to the end with `input` on stdin.
    pub async fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> CliRun {
        self.spawn(args).finish(Some(input)).await
    }

    /// Runs, asserts success, returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(run.status.success(), "tokenbroker {args:?} failed:\n{}", run.describe());
        run.stdout
    }

    /// Starts the CLI with stdin left open: it waits there for a body or a secret.
    pub fn spawn(&self, args: &[&str]) -> Running {
        spawn(self.command(args))
    }
}

/// A started process whose stdin is still open.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    what: String,
}

pub fn spawn(mut cmd: Command) -> Running {
    let what = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let (stdout, stderr) = (Arc::default(), Arc::default());
    let readers = vec![
        collect(child.stdout.take().expect("piped stdout"), Arc::clone(&stdout)),
        collect(child.stderr.take().expect("piped stderr"), Arc::clone(&stderr)),
    ];
    Running { stdin: child.stdin.take(), child, stdout, stderr, readers, what }
}

fn collect(mut source: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's argument vector as the kernel shows it to every user (`ps`).
    pub async fn proc_cmdline(&self) -> Vec<String> {
        // spawn can return while exec is still laying out the new image, whose cmdline reads
        // empty until then.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let raw = std::fs::read(format!("/proc/{}/cmdline", self.pid())).expect("read /proc/<pid>/cmdline");
            if !raw.is_empty() || Instant::now() > deadline {
                return raw
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Everything on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits until stdout holds `text`, failing after 15 s with what it holds.
    pub async fn wait_for_stdout(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.stdout_so_far().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{}: no {text:?} on stdout after 15 s: {:?}",
                self.what,
                self.stdout_so_far()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn write_stdin(&mut self, input: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(input).expect("write to the CLI's stdin");
        stdin.flush().expect("flush the CLI's stdin");
    }

    /// Writes `input` (if any), closes stdin and waits for the end, at most a minute.
    pub async fn finish(mut self, input: Option<&[u8]>) -> CliRun {
        if let Some(input) = input {
            self.write_stdin(input);
        }
        drop(self.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the CLI") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} still running after {TIMEOUT:?}; stdout so far: {:?}", self.what, self.stdout_so_far());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let text = |buf: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
        CliRun { status, stdout: text(&self.stdout), stderr: text(&self.stderr) }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
