//! Secrets never reach an argument vector, which every user of the machine can read (`ps`,
//! `/proc/<pid>/cmdline`) and shells keep in history: bodies come from files or stdin, a secret
//! from stdin or a prompt that does not echo, and a value given as an argument is refused.

use std::process::Command;
use std::time::Duration;

use crate::fakes::FakeQubs;
use crate::harness::admin_cli::{AdminCli, spawn};
use crate::harness::{random, spawn_app};

/// What the kernel shows of the CLI while it waits on stdin, and the arguments it was given.
async fn argv_while_waiting(running: &crate::harness::admin_cli::Running, cmd_args: &[&str]) -> String {
    let cmdline = running.proc_cmdline().await;
    assert!(
        cmdline.iter().any(|a| a == "tokenbroker" || a.ends_with("/tokenbroker"))
            && cmd_args.iter().all(|a| cmdline.contains(&(*a).to_owned())),
        "/proc/{}/cmdline is not the CLI's: {cmdline:?}",
        running.pid()
    );
    cmdline.join(" ")
}

#[tokio::test]
async fn secrets_fed_by_stdin_never_appear_in_argv() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let admin_key = app.env.admin_key().to_owned();
    let qubs = FakeQubs::start().await;

    // A whole connection body, secret included, piped in.
    let args = ["connections", "create", "--file", "-"];
    let mut running = cli.spawn(&args);
    let argv = argv_while_waiting(&running, &args).await;
    running.write_stdin(qubs.connection("qubs-main").to_string().as_bytes());
    let run = running.finish(None).await;
    assert!(run.status.success(), "{}", run.describe());
    for (what, secret) in [("client secret", qubs.client_secret()), ("admin API key", admin_key.clone())] {
        assert!(!argv.contains(&secret), "the {what} is in the CLI's argv: {argv}");
    }
    app.admin.token("qubs-main").await;

    // One secret, piped in while the CLI waits for it.
    let rotated = random::secret("rotated");
    qubs.set_client_secret(&rotated);
    let args = ["connections", "set-secrets", "qubs-main", "client_secret"];
    let cmd = cli.command(&args);
    let given: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut running = spawn(cmd);
    let argv = argv_while_waiting(&running, &args).await;
    assert!(!argv.contains(&rotated) && !given.iter().any(|a| a.contains(&rotated)), "the secret is in argv: {argv}");
    assert!(!argv.contains(&admin_key), "the API key is in argv: {argv}");
    running.write_stdin(format!("{rotated}\n").as_bytes());
    let run = running.finish(None).await;
    assert!(run.status.success(), "{}", run.describe());
    app.admin.token("qubs-main").await;
    assert_eq!(qubs.wrong_credential_calls(), 0, "the vendor did not get the piped secret");
}

#[tokio::test]
async fn set_secrets_refuses_a_value_given_as_an_argument() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    let before = app.admin.connection("qubs-main").await;

    let value = random::secret("on-the-command-line");
    let forms: [Vec<String>; 4] = [
        vec!["qubs-main".into(), "client_secret".into(), value.clone()],
        vec!["qubs-main".into(), format!("client_secret={value}")],
        vec!["qubs-main".into(), "client_secret".into(), format!("--value={value}")],
        vec!["qubs-main".into(), "client_secret".into(), "--".into(), value.clone()],
    ];
    for form in forms {
        let mut args = vec!["connections", "set-secrets"];
        args.extend(form.iter().map(String::as_str));
        // Even with the value on stdin too: the argument alone is reason to refuse.
        let run = cli.run_with_stdin(&args, format!("{value}\n").as_bytes()).await;
        assert_eq!(run.status.code(), Some(2), "{args:?}:\n{}", run.describe());
        let line = run.one_line_error();
        assert!(line.contains("never its value"), "{args:?}: {line}");
        assert!(!line.contains(&value), "the refusal repeats the value: {line}");
    }
    let after = app.admin.connection("qubs-main").await;
    assert_eq!(before["updated_at"], after["updated_at"], "a refused set-secrets changed the connection");
    app.admin.token("qubs-main").await;
    assert_eq!(qubs.wrong_credential_calls(), 0);
}

/// On a terminal the value is asked for and not echoed. `script` (util-linux) gives the CLI a
/// pseudo-terminal and copies everything the terminal shows to its stdout.
#[tokio::test]
async fn set_secrets_prompts_on_a_terminal_without_echo() {
    let found = Command::new("script").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs `script` from util-linux (Debian: apt-get install bsdutils): {found:?}"
    );
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    let rotated = random::secret("typed");
    qubs.set_client_secret(&rotated);

    let inner = format!("'{}' connections set-secrets qubs-main client_secret", crate::harness::broker::BIN);
    // `script` as the program, with the environment the CLI would get.
    let env = cli.command(&[]);
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &inner, "/dev/null"]);
    for (name, value) in env.get_envs() {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let mut running = spawn(cmd);
    running.wait_for_stdout("(not shown as you type): ").await;
    // The prompt is written just before echo goes off: type only once it is off, as a person
    // would be too slow not to. Had the CLI left it on, the typed secret would show below.
    wait_for_echo_off(running.pid()).await;
    running.write_stdin(format!("{rotated}\n").as_bytes());
    running.wait_for_stdout("values are never shown").await;
    let run = running.finish(None).await;
    assert!(run.status.success(), "{}", run.describe());
    assert!(!run.stdout.contains(&rotated), "the typed secret was echoed:\n{}", run.stdout);
    app.admin.token("qubs-main").await;
    assert_eq!(qubs.wrong_credential_calls(), 0, "the vendor did not get the typed secret");
}

/// Waits until the terminal of the CLI under `script_pid` has echo off (as `stty -a` shows it),
/// failing after 15 s with what `stty` last said.
async fn wait_for_echo_off(script_pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Some(tty) = descendants(script_pid)
            .into_iter()
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.windows(11).any(|w| w == b"set-secrets"))
            })
            .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/fd/0")).ok())
        {
            let out = Command::new("stty").arg("-F").arg(&tty).arg("-a").output().expect("run stty");
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if last.split([' ', ';', '\n']).any(|flag| flag == "-echo") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the CLI's terminal never had echo off within 15 s; stty said: {last}");
}

/// Every process below `pid`, from /proc's children lists.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}
