//! Managing principals, their API keys and grants. Every change clears this replica's key
//! cache before it returns, so it holds here at once; other replicas hear it through the store.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;

use super::{Admin, AdminError};
use crate::auth::ApiKey;
use crate::domain::{AuditEvent, GrantChange, KeyRecord, NewKey, PrincipalRecord, Role};
use crate::ids::{GrantPattern, PrincipalId};
use crate::validation::ValidationErrors;

/// A new API key: shown once, stored only as a hash.
pub struct IssuedKey {
    pub record: KeyRecord,
    pub secret: SecretString,
}

impl Admin {
    pub async fn create_principal(
        &self,
        actor: &PrincipalId,
        id: &PrincipalId,
        role: Role,
        description: &str,
    ) -> Result<PrincipalRecord, AdminError> {
        let event = AuditEvent::success(Some(actor), "principal.create", json!({"principal": id, "role": role}));
        let record = self.store.create_principal(id, role, description, &event).await?;
        self.auth.clear();
        Ok(record)
    }

    pub async fn list_principals(&self) -> Result<Vec<PrincipalRecord>, AdminError> {
        Ok(self.store.list_principals().await?)
    }

    pub async fn get_principal(&self, id: &PrincipalId) -> Result<PrincipalRecord, AdminError> {
        Ok(self.store.get_principal(id).await?)
    }

    /// Deletes a principal with its keys and grants; never the last admin.
    pub async fn delete_principal(&self, actor: &PrincipalId, id: &PrincipalId) -> Result<(), AdminError> {
        let event = AuditEvent::success(Some(actor), "principal.delete", json!({"principal": id}));
        self.store.delete_principal(id, &event).await?;
        self.auth.clear();
        Ok(())
    }

    pub async fn create_key(
        &self,
        actor: &PrincipalId,
        principal: &PrincipalId,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedKey, AdminError> {
        if expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ValidationErrors::single("expires_at", "must be in the future").into());
        }
        let key = ApiKey::generate()?;
        let event =
            AuditEvent::success(Some(actor), "key.create", json!({"principal": principal, "key_id": key.key_id}));
        let hash = key.hash();
        let record =
            self.store.create_key(principal, NewKey { key_id: &key.key_id, hash: &hash, expires_at }, &event).await?;
        self.auth.clear();
        Ok(IssuedKey { record, secret: key.secret })
    }

    pub async fn list_keys(&self, principal: &PrincipalId) -> Result<Vec<KeyRecord>, AdminError> {
        Ok(self.store.list_keys(principal).await?)
    }

    /// Revokes a key at once (idempotent); the row stays for the audit trail.
    pub async fn revoke_key(
        &self,
        actor: &PrincipalId,
        principal: &PrincipalId,
        key_id: &str,
    ) -> Result<(), AdminError> {
        let event = AuditEvent::success(Some(actor), "key.revoke", json!({"principal": principal, "key_id": key_id}));
        self.store.revoke_key(principal, key_id, &event).await?;
        self.auth.clear();
        Ok(())
    }

    pub async fn change_grant(
        &self,
        actor: &PrincipalId,
        change: GrantChange,
        principal: &PrincipalId,
        pattern: &GrantPattern,
    ) -> Result<(), AdminError> {
        let action = match change {
            GrantChange::Put => "grant.put",
            GrantChange::Delete => "grant.delete",
        };
        let event = AuditEvent::success(Some(actor), action, json!({"principal": principal, "pattern": pattern}));
        self.store.change_grant(change, principal, pattern, &event).await?;
        self.auth.clear();
        Ok(())
    }

    pub async fn list_grants(&self, principal: &PrincipalId) -> Result<Vec<GrantPattern>, AdminError> {
        Ok(self.store.list_grants(principal).await?)
    }
}
