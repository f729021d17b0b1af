//! The real authorization server's Node package (`tests/authserver/`), installed once per run
//! with `npm ci` from the committed lock file into `target/authserver/<digest>/`, where the
//! digest covers the package files and the server script: nothing is installed again until
//! one of them changes. Without Node.js or npm the tests that need them fail saying how to
//! get them; they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use super::broker::BIN;

/// What the directory holds besides `node_modules/`.
const FILES: &[&str] = &["package.json", "package-lock.json", "server.mjs"];

/// Oldest Node.js major version the server runs on (oidc-provider 9 warns below 22 LTS, and
/// works on 20).
const MIN_NODE_MAJOR: u32 = 20;

const HOW_TO: &str = "the interop tests run a real OAuth 2.0 server on Node.js: install Node.js \
     (20 or later) and npm, e.g. `apt-get install -y nodejs npm`";

/// The directory holding `server.mjs` next to its installed `node_modules/`.
pub fn authserver_dir() -> PathBuf {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match INSTALLED.get_or_init(install) {
        Ok(dir) => dir.clone(),
        Err(why) => panic!("{why}"),
    }
}

fn install() -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/authserver");
    let mut digest = Sha256::new();
    for name in FILES {
        let bytes =
            std::fs::read(source.join(name)).map_err(|e| format!("cannot read tests/authserver/{name}: {e}"))?;
        digest.update(name.as_bytes());
        digest.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
        digest.update(&bytes);
    }
    let tag: String = digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let root = target_dir().join("authserver");
    let dir = root.join(&tag);
    check_node()?;
    if dir.join(".installed").exists() {
        return Ok(dir);
    }
    // Installed beside the final place and renamed into it, so a half-finished install is never
    // taken for a finished one (and a parallel run of another test binary cannot see one).
    let staging = root.join(format!("{tag}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    for name in FILES {
        std::fs::copy(source.join(name), staging.join(name)).map_err(|e| format!("cannot copy {name}: {e}"))?;
    }
    let output = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&staging)
        .output()
        .map_err(|e| format!("cannot run npm ({e}); {HOW_TO}"))?;
    if !output.status.success() {
        return Err(format!(
            "`npm ci` in {} failed ({}); it needs the npm registry once per lock file change:\n{}{}",
            staging.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::write(staging.join(".installed"), b"").map_err(|e| format!("cannot mark the install done: {e}"))?;
    if std::fs::rename(&staging, &dir).is_err() {
        // Another process finished the same install first; theirs is as good.
        let _ = std::fs::remove_dir_all(&staging);
        if !dir.join(".installed").exists() {
            return Err(format!("cannot move the install into {}", dir.display()));
        }
    }
    Ok(dir)
}

fn check_node() -> Result<(), String> {
    let output =
        Command::new("node").arg("--version").output().map_err(|e| format!("cannot run node ({e}); {HOW_TO}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major: Option<u32> = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok());
    match major {
        Some(m) if m >= MIN_NODE_MAJOR => Ok(()),
        _ => Err(format!("node --version says {version:?}; {HOW_TO}")),
    }
}

/// The build's `target/` directory (the broker binary lives in `target/debug/`).
fn target_dir() -> PathBuf {
    Path::new(BIN).ancestors().nth(2).map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
}
