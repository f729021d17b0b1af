//! Principals (internal callers), their API keys (hashes only) and their grants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::UnknownValue;
use crate::ids::{GrantPattern, PrincipalId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "admin" => Ok(Role::Admin),
            "service" => Ok(Role::Service),
            other => Err(UnknownValue { what: "role", value: other.to_owned() }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantChange {
    Put,
    Delete,
}

#[derive(Debug, Clone)]
pub struct PrincipalRecord {
    pub id: PrincipalId,
    pub role: Role,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API key about to be stored: only its hash.
pub struct NewKey<'a> {
    pub key_id: &'a str,
    pub hash: &'a [u8],
    pub expires_at: Option<DateTime<Utc>>,
}

/// What an API key proves, looked up by the key's hash in one query.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key_id: String,
    pub principal_id: PrincipalId,
    pub role: Role,
    pub grants: Vec<GrantPattern>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}
