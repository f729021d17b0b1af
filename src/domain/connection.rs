//! A connection: one vendor account for one environment, with its plain config, its sealed
//! secrets and token state, and the facts about them that can be shown without the master key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::UnknownValue;
use crate::ids::ConnectionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Disabled,
    /// The connection cannot get tokens until an admin replaces its secrets.
    NeedsReauth,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::NeedsReauth => "needs_reauth",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            "needs_reauth" => Ok(Self::NeedsReauth),
            other => Err(UnknownValue { what: "connection status", value: other.to_owned() }),
        }
    }
}

/// The last failed vendor call, as shown on the connection view. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    pub at: DateTime<Utc>,
    pub code: String,
    pub detail: String,
}

/// A failed vendor call, as recorded on the connection.
#[derive(Debug, Clone)]
pub struct RecordedFailure {
    pub error: LastError,
    /// `needs_reauth` when nothing is left to get a token with.
    pub status: Option<ConnectionStatus>,
    /// No vendor call before this time.
    pub retry_not_before: Option<DateTime<Utc>>,
}

/// Plain facts about the sealed token, readable without the master key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenMeta {
    pub obtained_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub provider: String,
    pub description: String,
    pub config: Value,
    pub secret_names: Vec<String>,
    /// Sealed [`crate::secret::SecretMap`].
    pub secrets: Vec<u8>,
    pub status: ConnectionStatus,
    /// Sealed token state, if any.
    pub token: Option<Vec<u8>>,
    pub token_meta: TokenMeta,
    pub last_error: Option<LastError>,
    /// Consecutive failed vendor calls.
    pub failure_count: i32,
    /// No vendor call before this time.
    pub retry_not_before: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Bumped by every change of the row, so copies held in memory can tell they are stale.
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The secret that is token state rather than a credential: a refresh token given by an admin
/// becomes the connection's current refresh token (sealed in `token`), so it is used once and
/// then rotated, never kept as a reusable secret.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// A connection about to be inserted. Its secrets are sealed already (bound to its id).
pub struct NewConnection<'a> {
    pub id: &'a ConnectionId,
    pub provider: &'a str,
    pub description: &'a str,
    pub config: &'a Value,
    pub secret_names: &'a [String],
    pub secrets: &'a [u8],
    /// Initial token state (a refresh token given by the admin), sealed, with its facts.
    pub token: Option<(&'a [u8], TokenMeta)>,
}

/// Changes an admin makes to a connection; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConnectionChange<'a> {
    pub description: Option<&'a str>,
    pub config: Option<&'a Value>,
    pub secrets: Option<(&'a [String], &'a [u8])>,
    pub status: Option<ConnectionStatus>,
    /// Forget the failure backoff (new secrets deserve a try now).
    pub reset_backoff: bool,
    /// Replace the sealed token state (`Some(None)` clears it) together with its plain facts.
    pub token: Option<(Option<&'a [u8]>, TokenMeta)>,
}
