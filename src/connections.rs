//! Managing connections: validation against the provider's fields, sealing secrets bound to
//! the row, and writing each change with its audit event in one transaction.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::crypto::{CryptoError, KeyRing};
use crate::ids::{ConnectionId, PrincipalId};
use crate::providers;
use crate::refresh::state::{Owner, TokenState};
use crate::secret::SecretMap;
use crate::store::{
    AuditEvent, ConnectionChange, ConnectionRecord, ConnectionStatus, NewConnection, Store, StoreError,
};
use crate::validation::ValidationErrors;

use crate::store::REFRESH_TOKEN;

/// Config keys that decide where, and as which client, the broker talks to the vendor.
const VENDOR_FACING: &[&str] =
    &["token_url", "base_url", "refresh", "environment", "tenant_id", "client_id", "grant_type", "username"];

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

pub struct NewConnectionRequest {
    pub id: String,
    pub provider: String,
    pub description: String,
    pub config: Value,
    pub secrets: Map<String, Value>,
}

pub struct Manager<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyRing,
    pub allow_insecure_urls: bool,
}

impl Manager<'_> {
    pub async fn create(
        &self,
        actor: &PrincipalId,
        req: NewConnectionRequest,
    ) -> Result<ConnectionRecord, ManageError> {
        let mut errors = ValidationErrors::new();
        let id = ConnectionId::parse("id", &req.id).map_err(|e| errors.merge(e)).ok();
        let provider = providers::find(&req.provider);
        if provider.is_none() {
            let names: Vec<&str> = providers::all().iter().map(|p| p.name).collect();
            errors.add("provider", format!("unknown provider; one of: {}", names.join(", ")));
        }
        let secrets = secret_values(&req.secrets, &mut errors);
        let mut plan = None;
        if let Some(provider) = provider {
            let names = secrets.names();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            match provider.resolve(&req.config, &names, self.allow_insecure_urls) {
                Ok(resolved) => plan = Some(resolved),
                Err(e) => errors.merge(e),
            }
        }
        if let Some(plan) = &plan {
            check_header_secrets(plan, &secrets, &mut errors);
        }
        let (Some(id), Some(provider), Some(plan)) = (id, provider, plan) else { return Err(errors.into()) };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let (secrets, token) = split_refresh_token(secrets, plan.refresh_token_lifetime);
        let owner = Owner::new(&id, provider.name, &req.config);
        let sealed_secrets = self.keys.seal(owner.binding("secrets"), &secrets.to_plaintext())?;
        let sealed_token = if token.is_empty() { None } else { Some(token.seal(self.keys, &owner)?) };
        let names = secrets.names();
        let event = AuditEvent::success(
            Some(actor),
            "connection.create",
            json!({"provider": provider.name, "secrets": names, "has_refresh_token": !token.is_empty()}),
        )
        .on_connection(id.as_str());
        Ok(self
            .store
            .create_connection(
                NewConnection {
                    id: &id,
                    provider: provider.name,
                    description: &req.description,
                    config: &req.config,
                    secret_names: &names,
                    secrets: &sealed_secrets,
                    token: sealed_token.as_deref().map(|t| (t, token.meta())),
                },
                &event,
            )
            .await?)
    }

    /// PATCH: description, config keys (null removes one), status `active`/`disabled`.
    pub async fn update(
        &self,
        actor: &PrincipalId,
        id: &ConnectionId,
        description: Option<&str>,
        config_patch: Option<&Map<String, Value>>,
        status: Option<ConnectionStatus>,
    ) -> Result<ConnectionRecord, ManageError> {
        let mut locked = self.store.lock_connection(id, ADMIN_LOCK_WAIT).await?;
        let record = locked.record().clone();
        let mut config = None;
        if let Some(patch) = config_patch {
            let mut merged = record.config.as_object().cloned().unwrap_or_default();
            for (key, value) in patch {
                if value.is_null() {
                    merged.remove(key);
                } else {
                    merged.insert(key.clone(), value.clone());
                }
            }
            let merged = Value::Object(merged);
            self.validate(&record, &merged, &record.secret_names, record.token_meta.has_refresh_token).map(|_| ())?;
            config = Some(merged);
        }
        let changed: Vec<&str> = config_patch.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
        // A refresh token (and the vendor's cookies) belongs to one client at one endpoint:
        // never send it to another.
        let drop_refresh = changed.iter().any(|k| VENDOR_FACING.contains(k));
        // Sealed values are bound to the config: under a new config they are sealed anew.
        let owner = Owner::new(&record.id, &record.provider, config.as_ref().unwrap_or(&record.config));
        let resealed_secrets = match &config {
            Some(_) => Some(self.keys.seal(owner.binding("secrets"), &self.open_secrets(&record)?.to_plaintext())?),
            None => None,
        };
        let change = ConnectionChange {
            description,
            config: config.as_ref(),
            status,
            secrets: resealed_secrets.as_deref().map(|s| (record.secret_names.as_slice(), s)),
            ..ConnectionChange::default()
        };
        // A token obtained under the old config may not fit the new one; the refresh token stays
        // unless the change points at another endpoint or client.
        let mut token = self.token_state(&record)?;
        if drop_refresh {
            token.refresh_token = None;
            token.refresh_token_expires_at = None;
            token.cookies.clear();
        }
        let sealed = self.rewrite_token(&owner, &mut token, config.is_some())?;
        locked.apply(&change, sealed.as_ref().map(|s| (s.as_deref(), token.meta()))).await?;
        locked
            .audit(
                &AuditEvent::success(
                    Some(actor),
                    "connection.update",
                    json!({"description": description.is_some(), "config": changed, "status": status}),
                )
                .on_connection(id.as_str()),
            )
            .await?;
        Ok(locked.commit().await?)
    }

    /// PUT secrets: replaces the named secrets (null removes an optional one), drops the
    /// cached access token, and lets a `needs_reauth` connection try again.
    pub async fn replace_secrets(
        &self,
        actor: &PrincipalId,
        id: &ConnectionId,
        given: &Map<String, Value>,
    ) -> Result<ConnectionRecord, ManageError> {
        let mut errors = ValidationErrors::new();
        let mut locked = self.store.lock_connection(id, ADMIN_LOCK_WAIT).await?;
        let record = locked.record().clone();
        let mut secrets = self.open_secrets(&record)?;
        let mut removed = Vec::new();
        for (name, value) in given {
            if value.is_null() {
                secrets.remove(name);
                removed.push(name.as_str());
            }
        }
        let replaced = secret_values(
            &given.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect(),
            &mut errors,
        );
        for name in replaced.names() {
            if let Some(value) = replaced.get(&name) {
                secrets.insert(name, value.clone());
            }
        }
        let mut token = self.token_state(&record)?;
        let keeps_refresh_token = token.refresh_token.is_some() && !removed.contains(&REFRESH_TOKEN);
        let plan = match self.validate(&record, &record.config, &secrets.names(), keeps_refresh_token) {
            Ok(plan) => Some(plan),
            Err(e) => {
                errors.merge(e);
                None
            }
        };
        if let Some(plan) = &plan {
            check_header_secrets(plan, &secrets, &mut errors);
        }
        let Some(plan) = plan.filter(|_| errors.is_empty()) else { return Err(errors.into()) };
        let (secrets, new_token) = split_refresh_token(secrets, plan.refresh_token_lifetime);
        if new_token.refresh_token.is_some() || removed.contains(&REFRESH_TOKEN) {
            token.refresh_token = new_token.refresh_token;
            token.refresh_token_expires_at = new_token.refresh_token_expires_at;
            token.cookies.clear();
        }
        let owner = Owner::of(&record);
        let sealed_token = self.rewrite_token(&owner, &mut token, true)?;
        let sealed_secrets = self.keys.seal(owner.binding("secrets"), &secrets.to_plaintext())?;
        let secret_names = secrets.names();
        let status = (record.status == ConnectionStatus::NeedsReauth).then_some(ConnectionStatus::Active);
        let change = ConnectionChange {
            secrets: Some((&secret_names, &sealed_secrets)),
            status,
            reset_backoff: true,
            ..ConnectionChange::default()
        };
        locked.apply(&change, sealed_token.as_ref().map(|s| (s.as_deref(), token.meta()))).await?;
        let given_names: Vec<&String> = given.keys().collect();
        locked
            .audit(
                &AuditEvent::success(Some(actor), "connection.secrets.replace", json!({"secrets": given_names}))
                    .on_connection(id.as_str()),
            )
            .await?;
        Ok(locked.commit().await?)
    }

    pub async fn delete(&self, actor: &PrincipalId, id: &ConnectionId) -> Result<(), ManageError> {
        let event = AuditEvent::success(Some(actor), "connection.delete", json!({})).on_connection(id.as_str());
        Ok(self.store.delete_connection(id, &event).await?)
    }

    /// `has_refresh_token`: the token state holds one, which counts as a given secret where the
    /// provider takes one (see `ProviderDef::secret_names`).
    fn validate(
        &self,
        record: &ConnectionRecord,
        config: &Value,
        secret_names: &[String],
        has_refresh_token: bool,
    ) -> Result<providers::Plan, ValidationErrors> {
        let provider = providers::find(&record.provider)
            .ok_or_else(|| ValidationErrors::single("provider", "unknown provider"))?;
        let names = provider.secret_names(secret_names, has_refresh_token);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        provider.resolve(config, &names, self.allow_insecure_urls)
    }

    fn open_secrets(&self, record: &ConnectionRecord) -> Result<SecretMap, ManageError> {
        let plaintext = self.keys.open(Owner::of(record).binding("secrets"), &record.secrets)?;
        SecretMap::from_plaintext(&plaintext)
            .map_err(|_| StoreError::Corrupt("stored secrets are not a map".into()).into())
    }

    fn token_state(&self, record: &ConnectionRecord) -> Result<TokenState, ManageError> {
        match &record.token {
            Some(sealed) => Ok(TokenState::open(self.keys, &Owner::of(record), sealed).map_err(StoreError::from)?),
            None => Ok(TokenState::default()),
        }
    }

    /// The token column's new value when it changes: `Some(None)` clears it.
    fn rewrite_token(
        &self,
        owner: &Owner<'_>,
        token: &mut TokenState,
        drop_access: bool,
    ) -> Result<Option<Option<Vec<u8>>>, ManageError> {
        if !drop_access {
            return Ok(None);
        }
        token.access = None;
        if token.is_empty() {
            return Ok(Some(None));
        }
        Ok(Some(Some(token.seal(self.keys, owner)?)))
    }
}

/// How long an admin change waits for a refresh in progress to finish.
const ADMIN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Secret values must be non-empty strings; each bad one is named.
fn secret_values(given: &Map<String, Value>, errors: &mut ValidationErrors) -> SecretMap {
    let mut secrets = SecretMap::new();
    let sorted: BTreeMap<&String, &Value> = given.iter().collect();
    for (name, value) in sorted {
        match value {
            Value::String(s) if !s.is_empty() => secrets.insert(name.clone(), SecretString::from(s.as_str())),
            _ => errors.add(format!("secrets.{name}"), "must be a non-empty string"),
        }
    }
    secrets
}

/// Secrets handed out as header values must be valid header values: a CR or LF in one would
/// let it add headers of its own to every caller's vendor request.
fn check_header_secrets(plan: &providers::Plan, secrets: &SecretMap, errors: &mut ValidationErrors) {
    for name in plan.header_secrets() {
        if secrets.expose(name).is_some_and(|v| !providers::plan::is_header_value(v)) {
            errors.add(format!("secrets.{name}"), "is handed out as a header value: no control characters (CR, LF…)");
        }
    }
}

/// Moves a given `refresh_token` out of the credentials and into the token state. When the
/// provider knows how long refresh tokens live, the given one is counted as new: its end is
/// then known, so refresh-ahead rotates it in time even if nobody asks for a token.
fn split_refresh_token(mut secrets: SecretMap, lifetime: Option<chrono::Duration>) -> (SecretMap, TokenState) {
    let mut token = TokenState::default();
    if let Some(refresh) = secrets.get(REFRESH_TOKEN).cloned() {
        secrets.remove(REFRESH_TOKEN);
        token.refresh_token = Some(refresh);
        token.refresh_token_expires_at = lifetime.map(|l| chrono::Utc::now() + l);
    }
    (secrets, token)
}
