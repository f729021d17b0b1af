//! The first admin: from `TOKENBROKER_BOOTSTRAP_ADMIN_KEY`, or printed once on an empty database.

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{ApiKey, hash_key};
use crate::store::{Bootstrapped, Store};

pub async fn admin(store: &Store, key: Option<&SecretString>) -> anyhow::Result<()> {
    let Some(key) = key else {
        let key = ApiKey::generate()?;
        if store.bootstrap_if_empty(&key.key_id, &key.hash()).await? {
            // Shown once, on stderr, outside the log stream; never stored in plaintext.
            eprintln!("tokenbroker: bootstrap admin API key (shown once): {}", key.secret.expose_secret());
            tracing::warn!(principal = "admin", key_id = %key.key_id, "created the first admin; its key was printed once on stderr");
        }
        return Ok(());
    };
    if key.expose_secret().chars().count() < 32 {
        bail!("TOKENBROKER_BOOTSTRAP_ADMIN_KEY must be at least 32 characters");
    }
    let hash = hash_key(key.expose_secret());
    // The id is derived from the hash, so every replica and restart agrees on it.
    let key_id = format!("bootstrap_{}", hash.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>());
    match store.ensure_bootstrap_admin(&key_id, &hash).await? {
        Bootstrapped::Unchanged => {}
        Bootstrapped::Added { revoked } if revoked.is_empty() => {
            tracing::info!(principal = "admin", key_id = %key_id, "bootstrap admin key added");
        }
        Bootstrapped::Added { revoked } => tracing::warn!(
            principal = "admin",
            key_id = %key_id,
            revoked = ?revoked,
            "bootstrap admin key changed: the earlier bootstrap key no longer works"
        ),
        Bootstrapped::Revoked => tracing::error!(
            principal = "admin",
            key_id = %key_id,
            "TOKENBROKER_BOOTSTRAP_ADMIN_KEY was revoked through the API and stays revoked; set a new key to \
             bootstrap with, or use another admin's key"
        ),
    }
    Ok(())
}
