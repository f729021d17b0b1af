//! Managing connections: config and secrets checked against the provider's fields, secrets
//! sealed bound to the row and its config, and each change written with its audit event under
//! the connection's lease (so it never interleaves with a refresh).

use std::collections::{BTreeMap, BTreeSet};

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use super::{Admin, AdminError};
use crate::credentials::{Owner, TokenState};
use crate::domain::{AuditEvent, ConnectionChange, ConnectionRecord, ConnectionStatus, NewConnection, REFRESH_TOKEN};
use crate::ids::{ConnectionId, PrincipalId};
use crate::providers::fields::Facing;
use crate::providers::{self, Plan, ProviderDef};
use crate::secret::SecretMap;
use crate::tokens::{IssuedToken, TokenError, Want};
use crate::validation::ValidationErrors;

/// How long an admin change waits for a refresh in progress to finish.
const ADMIN_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct NewConnectionRequest {
    pub id: String,
    pub provider: String,
    pub description: String,
    pub config: Value,
    pub secrets: Map<String, Value>,
}

/// A change to an existing connection; `None` leaves a part as it is.
#[derive(Default)]
pub struct ConnectionPatch<'a> {
    pub description: Option<&'a str>,
    /// Config keys to set; `null` removes one.
    pub config: Option<&'a Map<String, Value>>,
    /// `active` or `disabled`.
    pub status: Option<ConnectionStatus>,
    /// Secrets to set; `null` removes an optional one. Required again, all of them, when the
    /// change moves where credentials are sent.
    pub secrets: Option<&'a Map<String, Value>>,
}

impl Admin {
    pub async fn create_connection(
        &self,
        actor: &PrincipalId,
        req: NewConnectionRequest,
    ) -> Result<ConnectionRecord, AdminError> {
        let mut errors = ValidationErrors::new();
        let id = ConnectionId::parse("id", &req.id).map_err(|e| errors.merge(e)).ok();
        let provider = providers::find(&req.provider);
        if provider.is_none() {
            let names: Vec<&str> = providers::all().iter().map(|p| p.name).collect();
            errors.add("provider", format!("unknown provider; one of: {}", names.join(", ")));
        }
        let secrets = secret_values(&req.secrets, &mut errors);
        let plan = provider.and_then(|p| checked_plan(p, &req.config, &secrets, false, self, &mut errors));
        let (Some(id), Some(provider), Some(plan)) = (id, provider, plan) else { return Err(errors.into()) };
        errors.finish(())?;
        let (secrets, token) = split_refresh_token(secrets, plan.refresh_token_lifetime);
        let owner = Owner::new(&id, provider.name, &req.config);
        let sealed_secrets = self.vault.seal_secrets(&owner, &secrets)?;
        let sealed_token = self.vault.seal_token(&owner, &token)?;
        let names = secrets.names();
        let event = AuditEvent::success(
            Some(actor),
            "connection.create",
            json!({"provider": provider.name, "secrets": names, "has_refresh_token": !token.is_empty()}),
        )
        .on_connection(id.as_str());
        let new = NewConnection {
            id: &id,
            provider: provider.name,
            description: &req.description,
            config: &req.config,
            secret_names: &names,
            secrets: &sealed_secrets,
            token: sealed_token.as_deref().map(|t| (t, token.meta())),
        };
        let record = self.store.create_connection(new, &event).await?;
        self.tokens.changed(id.as_str(), Some(record.generation));
        Ok(record)
    }

    pub async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, AdminError> {
        Ok(self.store.list_connections().await?)
    }

    pub async fn get_connection(&self, id: &ConnectionId) -> Result<ConnectionRecord, AdminError> {
        Ok(self.store.get_connection(id).await?)
    }

    /// PATCH: description, config keys, status, and (needed when credentials would go somewhere
    /// new) the secrets again.
    pub async fn update_connection(
        &self,
        actor: &PrincipalId,
        id: &ConnectionId,
        patch: ConnectionPatch<'_>,
    ) -> Result<ConnectionRecord, AdminError> {
        self.change(actor, id, patch, "connection.update").await
    }

    /// PUT secrets: replaces the named secrets (null removes an optional one), drops the
    /// access token, and lets a `needs_reauth` connection try again.
    pub async fn replace_secrets(
        &self,
        actor: &PrincipalId,
        id: &ConnectionId,
        given: &Map<String, Value>,
    ) -> Result<ConnectionRecord, AdminError> {
        let patch = ConnectionPatch { secrets: Some(given), ..ConnectionPatch::default() };
        self.change(actor, id, patch, "connection.secrets.replace").await
    }

    pub async fn delete_connection(&self, actor: &PrincipalId, id: &ConnectionId) -> Result<(), AdminError> {
        let event = AuditEvent::success(Some(actor), "connection.delete", json!({})).on_connection(id.as_str());
        self.store.delete_connection(id, &event).await?;
        self.tokens.changed(id.as_str(), None);
        Ok(())
    }

    /// An admin's forced refresh, recorded with its outcome once it is known.
    pub async fn force_refresh(&self, actor: &PrincipalId, id: &ConnectionId) -> Result<IssuedToken, TokenError> {
        let result = self.tokens.token(id, Want::Force).await;
        let event = AuditEvent {
            outcome: if result.is_ok() { "success" } else { "failure" },
            ..AuditEvent::success(Some(actor), "connection.refresh", json!({})).on_connection(id.as_str())
        };
        if let Err(err) = self.store.record_audit(&event).await {
            tracing::warn!(error = %err, connection = %id, "could not record a forced refresh");
        }
        result
    }

    async fn change(
        &self,
        actor: &PrincipalId,
        id: &ConnectionId,
        patch: ConnectionPatch<'_>,
        action: &'static str,
    ) -> Result<ConnectionRecord, AdminError> {
        let mut lease = self.store.lock_connection(id, ADMIN_LOCK_WAIT).await?;
        let record = lease.record().clone();
        let provider = providers::find(&record.provider)
            .ok_or_else(|| ValidationErrors::single("provider", "unknown provider"))?;
        let mut errors = ValidationErrors::new();

        let old_config = record.config.as_object().cloned().unwrap_or_default();
        let mut config = old_config.clone();
        for (key, value) in patch.config.into_iter().flatten() {
            if value.is_null() {
                config.remove(key);
            } else {
                config.insert(key.clone(), value.clone());
            }
        }
        let changed: Vec<&String> = patch
            .config
            .into_iter()
            .flatten()
            .map(|(key, _)| key)
            .filter(|key| old_config.get(*key) != config.get(*key))
            .collect();
        let facing = |key: &str| provider.config.iter().find(|f| f.name == key).map_or(Facing::No, |f| f.facing);
        let moved: Vec<&String> = changed.iter().copied().filter(|k| facing(k) == Facing::Destination).collect();
        let reidentified = changed.iter().any(|k| facing(k) != Facing::No);

        if !moved.is_empty() {
            // Secrets go only where they were sent: an admin key alone cannot re-point them.
            let fields = moved.iter().map(|k| format!("config.{k}")).collect::<Vec<_>>().join(", ");
            for name in &record.secret_names {
                if !patch.secrets.is_some_and(|given| given.contains_key(name)) {
                    errors.add(
                        format!("secrets.{name}"),
                        format!("required again: {fields} changes where this connection's credentials are sent"),
                    );
                }
            }
        }
        let mut secrets = self.vault.secrets(&record)?;
        let mut token = self.vault.token(&record)?;
        for (name, value) in patch.secrets.into_iter().flatten() {
            if value.is_null() {
                secrets.remove(name);
                if name == REFRESH_TOKEN {
                    forget_refresh_token(&mut token);
                }
            }
        }
        let given: Map<String, Value> = patch
            .secrets
            .into_iter()
            .flatten()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        secrets.extend(secret_values(&given, &mut errors));
        // A refresh token (and the vendor's cookies) belongs to one client at one endpoint.
        if reidentified {
            forget_refresh_token(&mut token);
        }
        let config = Value::Object(config);
        let plan = checked_plan(provider, &config, &secrets, token.refresh_token.is_some(), self, &mut errors);
        let Some(plan) = plan else { return Err(errors.into()) };
        errors.finish(())?;
        let (secrets, given_token) = split_refresh_token(secrets, plan.refresh_token_lifetime);
        if given_token.refresh_token.is_some() {
            token.refresh_token = given_token.refresh_token;
            token.refresh_token_expires_at = given_token.refresh_token_expires_at;
            token.cookies.clear();
        }

        let config_changed = !changed.is_empty();
        let secrets_changed = patch.secrets.is_some();
        // Sealed values are bound to the config: under a new config they are sealed anew.
        let owner = Owner::new(&record.id, &record.provider, &config);
        let sealed_secrets =
            if config_changed || secrets_changed { Some(self.vault.seal_secrets(&owner, &secrets)?) } else { None };
        let names = secrets.names();
        // A token obtained with other config or secrets may not fit: the access token goes.
        let sealed_token = if config_changed || secrets_changed || reidentified {
            token.access = None;
            Some(self.vault.seal_token(&owner, &token)?)
        } else {
            None
        };
        let status = match (patch.status, secrets_changed && record.status == ConnectionStatus::NeedsReauth) {
            (Some(status), _) => Some(status),
            (None, true) => Some(ConnectionStatus::Active),
            (None, false) => None,
        };
        let change = ConnectionChange {
            description: patch.description,
            config: config_changed.then_some(&config),
            secrets: sealed_secrets.as_deref().map(|s| (names.as_slice(), s)),
            status,
            // New secrets deserve a try now, not after the old ones' backoff.
            reset_backoff: secrets_changed,
            token: sealed_token.as_ref().map(|sealed| (sealed.as_deref(), token.meta())),
        };
        lease.apply(&change).await?;
        let destinations: BTreeMap<&String, Value> =
            moved.iter().map(|k| (*k, json!({"from": old_config.get(*k), "to": config.get(*k)}))).collect();
        let given_names: Vec<&String> = patch.secrets.map(|s| s.keys().collect()).unwrap_or_default();
        let detail = match action {
            "connection.secrets.replace" => json!({"secrets": given_names}),
            _ => json!({
                "description": patch.description.is_some(),
                "config": changed,
                "destinations": destinations,
                "status": patch.status,
                "secrets": given_names,
            }),
        };
        lease.audit(&AuditEvent::success(Some(actor), action, detail).on_connection(id.as_str())).await?;
        let record = lease.commit().await?;
        // Holds on this replica before the answer; other replicas hear it through the store.
        self.tokens.changed(id.as_str(), Some(record.generation));
        Ok(record)
    }
}

/// The plan a create or change would leave the connection with, or the reasons it cannot:
/// config and secret names against the provider's fields, and the values of handed-out header
/// secrets. `has_refresh_token`: the token state keeps one, which counts as a given secret
/// where the provider takes one.
fn checked_plan(
    provider: &ProviderDef,
    config: &Value,
    secrets: &SecretMap,
    has_refresh_token: bool,
    admin: &Admin,
    errors: &mut ValidationErrors,
) -> Option<Plan> {
    let names = provider.secret_names(&secrets.names(), has_refresh_token);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match provider.resolve(config, &names, admin.vault.allow_insecure_urls()) {
        Ok(plan) => {
            // A CR or LF in a handed-out header value would add headers of its own to every
            // caller's vendor request.
            for name in plan.header_secrets() {
                if secrets.expose(name).is_some_and(|v| !providers::plan::is_header_value(v)) {
                    errors.add(
                        format!("secrets.{name}"),
                        "is handed out as a header value: no control characters (CR, LF…)",
                    );
                }
            }
            Some(plan)
        }
        Err(e) => {
            errors.merge(e);
            None
        }
    }
}

/// Secret values must be non-empty strings; each bad one is named.
fn secret_values(given: &Map<String, Value>, errors: &mut ValidationErrors) -> SecretMap {
    let mut secrets = SecretMap::new();
    let sorted: BTreeSet<&String> = given.keys().collect();
    for name in sorted {
        match &given[name] {
            Value::String(s) if !s.is_empty() => secrets.insert(name.clone(), SecretString::from(s.as_str())),
            _ => errors.add(format!("secrets.{name}"), "must be a non-empty string"),
        }
    }
    secrets
}

fn forget_refresh_token(token: &mut TokenState) {
    token.refresh_token = None;
    token.refresh_token_expires_at = None;
    token.cookies.clear();
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
