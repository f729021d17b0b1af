//! The documentation a newcomer reads stands on its own and says what the binary does: no
//! file points outside the repository, and the README's settings table lists exactly the
//! settings `serve --help` knows.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::broker::BrokerEnv;
use crate::harness::cli;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file a clone holds, without build output and installed tools.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    const SKIP: &[&str] =
        &["target", ".git", "node_modules", ".venv", "generated", "fuzz-report", ".hypothesis", "corpus", "artifacts"];
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !SKIP.contains(&name) {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_file_points_outside_the_repository() {
    let mut all = Vec::new();
    files(&repo(), &mut all);
    // Spelled in two parts, so this file does not find itself.
    let outside = [format!("../{}/", "shared"), format!("{}/spec", "shared"), format!("vendor-{}", "docs/")];
    let mut found = Vec::new();
    for path in all {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o.as_str())) {
                found.push(format!("{}:{}: {line}", path.strip_prefix(repo()).unwrap_or(&path).display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "files that point outside the repository (a clone does not have it):\n{}",
        found.join("\n")
    );
}

#[tokio::test]
async fn the_readme_settings_table_lists_exactly_the_settings_serve_knows() {
    let out = cli::run(BrokerEnv::empty().command(&["serve", "--help"]), Duration::from_secs(15)).await;
    assert!(out.status.success(), "serve --help:\n{}", out.describe());
    let known: BTreeSet<String> = out
        .stdout
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect();
    assert!(known.contains("DATABASE_URL"), "no settings found in serve --help:\n{}", out.stdout);

    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let table =
        readme.split("\n## Settings").nth(1).expect("a '## Settings' section").split("\n## ").next().unwrap_or("");
    let listed: BTreeSet<String> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            l.split('|').nth(1).unwrap_or("").split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>()
        })
        // The log filter is read by the logging library, not a flag of `serve`.
        .filter(|name| name != "RUST_LOG")
        .collect();
    let missing: Vec<&String> = known.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&known).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README settings table and `serve --help` differ: missing from the README {missing:?}, unknown to serve {stale:?}"
    );
}

/// The README's walk-through, run verbatim (only the broker's address and the admin key filled
/// in) by bash against a real broker with the production default for vendor URLs: each step
/// says what it did; the token step, with placeholder credentials, stops saying what failed and
/// where; a wrong admin key stops the first step.
#[tokio::test]
async fn the_readme_walk_through_runs_verbatim_and_says_what_went_wrong() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme.split("\n## Walk-through").nth(1).expect("a '## Walk-through' section");
    let script = section.split("```sh\n").nth(1).and_then(|s| s.split("\n```").next()).expect("a sh block");
    let app = crate::harness::spawn_app_with(|env| env.allow_insecure_vendor_urls = false).await;
    let run = |admin: &str| {
        let script = script
            .replace("B=http://127.0.0.1:8080", &format!("B={}", app.broker(0).base_url()))
            .replace("ADMIN=tbk_…", &format!("ADMIN={admin}"));
        async move {
            let out = tokio::process::Command::new("bash")
                .arg("-c")
                .arg(script)
                .output()
                .await
                .expect("run bash (the walk-through is a bash script)");
            (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };

    let (said, failed) = run(app.env.admin_key()).await;
    for step in [
        "✓ POST /v1/principals → 201",
        "✓ service key: tbk_",
        "✓ PUT /v1/principals/billing-svc/grants/qubs-* → 204",
        "✓ POST /v1/connections → 201",
    ] {
        assert!(said.contains(step), "the walk-through should say {step:?}:\n{said}\n{failed}");
    }
    let last = failed.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("✗ GET /v1/connections/qubs-prod/token → 50")
            && last.contains("https://authenticate.qubs.io/oauth2/token")
            && (last.contains("vendor_unavailable") || last.contains("vendor_rejected")),
        "the token step should stop naming the vendor endpoint and what failed:\n{said}\n{failed}"
    );

    let (said, failed) = run("tbk_wrong").await;
    assert!(said.is_empty(), "nothing should run after a failed step: {said}");
    assert!(failed.starts_with("✗ POST /v1/principals → 401"), "{failed}");
    assert_eq!(failed.lines().count(), 1, "{failed}");
}
