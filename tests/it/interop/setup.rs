//! A real authorization server, `replicas` brokers on one database with the given settings,
//! and a service key allowed every connection.

use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::harness::authserver::{AuthServer, AuthServerSettings};
use crate::harness::client::TestClient;
use crate::harness::setup::replicas_with_service;

pub struct Rig {
    pub server: AuthServer,
    pub app: TestApp,
    /// A service principal's API key, granted `*`.
    pub key: String,
}

impl Rig {
    pub async fn start(server: &AuthServerSettings, replicas: usize, settings: &[(&str, &str)]) -> Rig {
        let server = AuthServer::start(server).await;
        let (app, key) = replicas_with_service(replicas, settings).await;
        Rig { server, app, key }
    }

    /// The service, talking to replica `index`.
    pub fn svc(&self, index: usize) -> TestClient {
        self.app.client_on(index, Some(&self.key))
    }

    pub fn base_urls(&self, replicas: usize) -> Vec<String> {
        (0..replicas).map(|i| self.app.broker(i).base_url()).collect()
    }
}

/// The connection a consent flow leaves: no primary grant, only a rotating refresh token,
/// the client authenticating with HTTP Basic. `lifetime_seconds` is `refresh.lifetime_seconds`.
pub fn refresh_only_connection(
    id: &str,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
    lifetime_seconds: Option<u64>,
) -> Value {
    let mut refresh = json!({"rotating": true});
    if let Some(seconds) = lifetime_seconds {
        refresh["lifetime_seconds"] = Value::from(seconds);
    }
    json!({
        "id": id,
        "provider": "oauth2",
        "description": "refresh token only, rotating (real authorization server)",
        "config": {
            "token_url": token_url,
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_auth": "basic",
            "refresh": refresh,
        },
        "secrets": {"client_secret": client_secret, "refresh_token": refresh_token},
    })
}
