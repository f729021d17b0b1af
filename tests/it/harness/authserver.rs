//! A real OAuth 2.0 authorization server — panva's `oidc-provider`, OpenID-certified, from the
//! npm registry — as a process of its own on loopback (`tests/authserver/server.mjs`). Unlike
//! the fakes, nothing in it was written to suit the broker: it rotates refresh tokens and
//! revokes the grant when a rotated one comes back, and checks client assertions (alg, `iss`,
//! `aud`, `exp`, `jti` replay) as it does for everyone.
//!
//! Each test starts its own, with the clients it needs; the test-only routes seed a consented
//! grant's first refresh token and tell what the server saw.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::logs::{Logs, Stream};
use super::npm::authserver_dir;

const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How the server is set up; field names are `server.mjs`'s settings.
#[derive(Clone, Debug)]
pub struct AuthServerSettings {
    pub access_token_ttl: u64,
    /// Access tokens of the client_credentials grant.
    pub client_credentials_ttl: u64,
    pub refresh_token_ttl: u64,
    /// Each rotated refresh token lives `refresh_token_ttl` from its issue (true), or only what
    /// was left of the one it replaced (false).
    pub refresh_token_sliding: bool,
    /// oidc-provider client metadata, one object per client.
    pub clients: Vec<Value>,
}

impl Default for AuthServerSettings {
    fn default() -> Self {
        AuthServerSettings {
            access_token_ttl: 4,
            client_credentials_ttl: 3600,
            refresh_token_ttl: 3600,
            refresh_token_sliding: true,
            clients: Vec::new(),
        }
    }
}

/// A confidential client that authenticates with HTTP Basic and may only refresh: its
/// refresh tokens come from a consent flow (here, [`AuthServer::seed_refresh_token`]).
pub fn basic_refresh_client(client_id: &str, client_secret: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_secret": client_secret,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["refresh_token"],
        "response_types": [],
        "redirect_uris": [],
    })
}

/// A client_credentials client that proves itself with an HS256 assertion signed with its secret.
pub fn secret_jwt_client(client_id: &str, client_secret: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_secret": client_secret,
        "token_endpoint_auth_method": "client_secret_jwt",
        "token_endpoint_auth_signing_alg": "HS256",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
    })
}

/// A client_credentials client that proves itself with an assertion signed by the private half
/// of `public_jwk`, with `alg` only.
pub fn private_key_jwt_client(client_id: &str, alg: &str, public_jwk: &Value) -> Value {
    json!({
        "client_id": client_id,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": alg,
        "jwks": {"keys": [public_jwk]},
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
    })
}

/// What the server saw, from its own events.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Counters {
    /// Token requests that got as far as the grant handler or failed on the way, by grant type.
    pub token_requests: std::collections::BTreeMap<String, u64>,
    pub token_success: std::collections::BTreeMap<String, u64>,
    /// Refresh tokens consumed by a successful rotation.
    pub rotations: u64,
    /// A rotated refresh token presented again (the server then revokes the grant).
    pub refresh_token_reuse: u64,
    pub grants_revoked: u64,
    pub invalid_grant: u64,
    pub invalid_client: u64,
    /// A client assertion whose `jti` the server had accepted before.
    pub assertion_replays: u64,
    pub server_errors: u64,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// Milliseconds since the server started.
    pub t_ms: u64,
    pub grant_type: String,
    pub client_id: Option<String>,
    /// `ok`, or the OAuth error code.
    pub outcome: String,
    pub detail: Option<String>,
}

impl Counters {
    pub fn successes(&self, grant_type: &str) -> u64 {
        self.token_success.get(grant_type).copied().unwrap_or(0)
    }

    /// Successful requests of `grant_type` by `client_id`.
    pub fn successes_of(&self, client_id: &str, grant_type: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e.outcome == "ok" && e.grant_type == grant_type && e.client_id.as_deref() == Some(client_id))
            .count()
    }

    /// Every refused request, one line each, for failure messages.
    pub fn refusals(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.outcome != "ok")
            .map(|e| {
                format!(
                    "{} ms {} {:?}: {} ({})",
                    e.t_ms,
                    e.grant_type,
                    e.client_id,
                    e.outcome,
                    e.detail.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }
}

pub struct AuthServer {
    child: Child,
    logs: Logs,
    pub port: u16,
    /// The server's issuer identifier, `http://127.0.0.1:<port>`.
    pub issuer: String,
    http: reqwest::Client,
}

impl AuthServer {
    pub async fn start(settings: &AuthServerSettings) -> AuthServer {
        // `npm ci` on the first start of a run takes seconds: off the async workers.
        let dir = tokio::task::spawn_blocking(authserver_dir)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let config = json!({
            "access_token_ttl": settings.access_token_ttl,
            "client_credentials_ttl": settings.client_credentials_ttl,
            "refresh_token_ttl": settings.refresh_token_ttl,
            "refresh_token_sliding": settings.refresh_token_sliding,
            "clients": settings.clients,
        });
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .current_dir(&dir)
            .env("AUTHSERVER_CONFIG", config.to_string())
            .env("NODE_ENV", "test")
            .env_remove("DEBUG")
            // The server exits when this pipe closes, so it dies with the test process.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node ({e}): install Node.js 20 or later"));
        let logs = Logs::default();
        if let Some(err) = child.stderr.take() {
            logs.capture(Stream::Stderr, err);
        }
        let stdout = child.stdout.take().expect("server stdout");
        let (first_line, lines) = mpsc::channel();
        let captured = logs.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() {
                let _ = first_line.send(line.clone());
            }
            // Anything later is kept for failure messages.
            captured.capture(Stream::Stdout, reader);
        });
        let line = tokio::task::spawn_blocking(move || lines.recv_timeout(START_TIMEOUT)).await.expect("join");
        let started: Value = match line.ok().and_then(|l| serde_json::from_str(&l).ok()) {
            Some(started) => started,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "the authorization server did not print {{\"port\": …}} within {START_TIMEOUT:?}:\n{}",
                    logs.dump()
                );
            }
        };
        let port = started["port"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("port in the first line");
        let issuer = started["issuer"].as_str().expect("issuer in the first line").to_owned();
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client");
        AuthServer { child, logs, port, issuer, http }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// A consented grant for `client_id` and its first refresh token, as a consent flow leaves
    /// them.
    pub async fn seed_refresh_token(&self, client_id: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/__test/seed", self.issuer))
            .json(&json!({"client_id": client_id}))
            .send()
            .await
            .expect("seed a grant");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("seed answer");
        assert_eq!(status, 201, "seeding a grant for {client_id}: {body}");
        body["refresh_token"].as_str().expect("refresh_token").to_owned()
    }

    /// What the server saw so far. An error inside the server means the rig, not the broker,
    /// broke: that fails here, with what the server printed.
    pub async fn counters(&self) -> Counters {
        let resp = self.http.get(format!("{}/__test/counters", self.issuer)).send().await.expect("counters");
        let counters: Counters = resp.json().await.expect("counters JSON");
        assert_eq!(counters.server_errors, 0, "the authorization server failed internally:\n{}", self.logs.dump());
        counters
    }

    /// The server's record of a refresh token (`iat`, `exp`, `iiat`, `rotations`, `consumed`);
    /// `None` once it is gone (never issued, or destroyed on a reuse).
    pub async fn refresh_token_record(&self, value: &str) -> Option<Value> {
        let resp = self
            .http
            .get(format!(
                "{}/__test/refresh-token?{}",
                self.issuer,
                serde_urlencoded::to_string([("value", value)]).expect("query string")
            ))
            .send()
            .await
            .expect("refresh token record");
        match resp.status().as_u16() {
            200 => Some(resp.json().await.expect("record JSON")),
            404 => None,
            other => panic!("refresh token record: http {other}"),
        }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
