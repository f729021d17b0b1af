//! A whole installation as rows, for `tokenbroker copy`: from the embedded database to
//! PostgreSQL when one machine is outgrown (or back, for a test bed).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::{AuditRecord, ConnectionRecord, PrincipalRecord};

/// An API key as stored: its hash, never the key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub key_id: String,
    pub principal_id: String,
    pub key_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredGrant {
    pub principal_id: String,
    pub pattern: String,
    pub created_at: DateTime<Utc>,
}

/// An in-doubt single-use refresh token's hash (see the lease contract).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRefreshAttempt {
    pub connection_id: String,
    pub token_hash: Vec<u8>,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub principals: Vec<PrincipalRecord>,
    pub keys: Vec<StoredKey>,
    pub grants: Vec<StoredGrant>,
    pub connections: Vec<ConnectionRecord>,
    pub refresh_attempts: Vec<StoredRefreshAttempt>,
    pub audit: Vec<AuditRecord>,
}

impl Snapshot {
    pub fn counts(&self) -> Counts {
        Counts {
            principals: self.principals.len() as i64,
            api_keys: self.keys.len() as i64,
            grants: self.grants.len() as i64,
            connections: self.connections.len() as i64,
            refresh_attempts: self.refresh_attempts.len() as i64,
            audit_events: self.audit.len() as i64,
        }
    }
}

/// Rows per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub principals: i64,
    pub api_keys: i64,
    pub grants: i64,
    pub connections: i64,
    pub refresh_attempts: i64,
    pub audit_events: i64,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} principals, {} API keys, {} grants, {} connections, {} in-doubt refresh attempts, {} audit events",
            self.principals, self.api_keys, self.grants, self.connections, self.refresh_attempts, self.audit_events
        )
    }
}
