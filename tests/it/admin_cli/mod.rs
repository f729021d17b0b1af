//! The admin CLI (`tokenbroker connections|principals|keys|grants|token|providers`) against a
//! real broker: every command, its tables and its exact JSON, one-line errors, and secrets that
//! never reach an argument vector.

mod connections;
mod errors;
mod help;
mod principals;
mod secrets;
mod tokens;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;

use crate::harness::TestApp;
use crate::harness::random;

/// A body file as an admin keeps one: readable by its owner only. Removed on drop.
pub struct BodyFile(pub PathBuf);

impl BodyFile {
    pub fn new(body: &Value) -> BodyFile {
        let path = std::env::temp_dir().join(format!("tokenbroker-body-{}.json", random::hex(8)));
        std::fs::write(&path, serde_json::to_vec_pretty(body).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        BodyFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The API's answer body to `GET path` as the admin, byte for byte.
pub async fn api_body(app: &TestApp, path: &str) -> String {
    let resp = app.admin.raw(Method::GET, path).send().await;
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.body);
    resp.body
}

/// `--output json` prints the API's answer as it came: the same bytes, one newline after.
pub fn assert_same_json(cli_stdout: &str, api: &str) {
    assert_eq!(cli_stdout.strip_suffix('\n'), Some(api), "--output json must print the API's body exactly");
}
