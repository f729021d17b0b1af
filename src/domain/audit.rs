//! The audit trail: every admin change, recorded in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ids::PrincipalId;

/// One change, about to be recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor: Option<PrincipalId>,
    pub action: &'static str,
    pub connection_id: Option<String>,
    pub outcome: &'static str,
    /// Non-secret facts about the change (ids, changed field names), never values of secrets.
    pub detail: Value,
}

impl AuditEvent {
    pub fn success(actor: Option<&PrincipalId>, action: &'static str, detail: Value) -> Self {
        Self { actor: actor.cloned(), action, connection_id: None, outcome: "success", detail }
    }

    pub fn on_connection(mut self, id: &str) -> Self {
        self.connection_id = Some(id.to_owned());
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub principal_id: Option<String>,
    pub action: String,
    pub connection_id: Option<String>,
    pub outcome: String,
    pub detail: Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub connection_id: Option<String>,
    pub principal_id: Option<String>,
    pub action: Option<String>,
    /// Only events older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}
