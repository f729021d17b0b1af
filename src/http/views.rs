//! What the API answers. Views are built from records and never hold a secret's value. The
//! admin CLI reads the same types back (`Deserialize`), so client and server cannot drift.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{ConnectionRecord, ConnectionStatus, KeyRecord, LastError, PrincipalRecord, Role};
use crate::providers::{self, Endpoints};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub obtained_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub description: String,
    #[schema(value_type = BTreeMap<String, serde_json::Value>)]
    pub config: Value,
    /// Names of the secrets held; never their values.
    pub secrets: Vec<String>,
    pub status: ConnectionStatus,
    /// The stored token's facts; null when there is none.
    pub token: Option<TokenInfo>,
    /// The last failed vendor call; null when the last call succeeded or none was made.
    pub last_error: Option<LastError>,
    /// Where the broker sends this connection's token requests, defaults included.
    pub endpoints: Option<Endpoints>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ConnectionRecord> for ConnectionView {
    fn from(r: ConnectionRecord) -> Self {
        let meta = r.token_meta;
        let token = (meta.expires_at.is_some() || meta.has_refresh_token).then_some(TokenInfo {
            obtained_at: meta.obtained_at,
            expires_at: meta.expires_at,
            has_refresh_token: meta.has_refresh_token,
            refresh_token_expires_at: meta.refresh_token_expires_at,
        });
        let endpoints = providers::find(&r.provider).and_then(|p| p.endpoints(&r.config, &r.secret_names));
        Self {
            endpoints,
            id: r.id.to_string(),
            provider: r.provider,
            description: r.description,
            config: r.config,
            secrets: r.secret_names,
            status: r.status,
            token,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
}

/// A token ready to use, with every header the vendor wants.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub connection_id: String,
    pub access_token: String,
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
    /// Seconds left until `expires_at`.
    pub expires_in: i64,
    /// Everything a caller must send to the vendor's API, ready to copy.
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrincipalView {
    pub id: String,
    pub role: Role,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl From<PrincipalRecord> for PrincipalView {
    fn from(p: PrincipalRecord) -> Self {
        Self { id: p.id.to_string(), role: p.role, description: p.description, created_at: p.created_at }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrincipalList {
    pub principals: Vec<PrincipalView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for KeyView {
    fn from(k: KeyRecord) -> Self {
        Self { key_id: k.key_id, created_at: k.created_at, expires_at: k.expires_at, revoked_at: k.revoked_at }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// A new API key. `api_key` is shown this once and stored only as a hash.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeyCreated {
    pub key_id: String,
    pub api_key: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<String>,
}
