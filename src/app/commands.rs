//! The commands besides `serve`: `migrate`, `rekey`, `keys status` and `copy`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

use super::{keys, open_store};
use crate::config::{DatabaseArgs, KeyArgs};
use crate::credentials::{Owner, Vault};
use crate::domain::{AuditEvent, ConnectionChange};
use crate::store::Store;

pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    store.migrate().await.context("applying migrations")?;
    tracing::info!(database = %store.location(), "migrations applied");
    Ok(())
}

/// Re-seals every connection's secrets and token under the active key, one lease at a time,
/// so it is safe while brokers are serving (PostgreSQL).
pub async fn rekey(db: &DatabaseArgs, key_args: &KeyArgs) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    store.migrate().await.context("applying migrations")?;
    let ring = keys::load(key_args, &store).await?;
    keys::check_ring(&ring, &store).await?;
    let active = ring.active_key_id().to_owned();
    let vault = Vault::new(Arc::new(ring), true);
    let mut count = 0;
    for record in store.list_connections().await? {
        let mut lease = store.lock_connection(&record.id, Duration::from_secs(60)).await?;
        let record = lease.record().clone();
        let owner = Owner::of(&record);
        let secrets = vault.seal_secrets(&owner, &vault.secrets(&record)?)?;
        let token = vault.token(&record)?;
        let sealed_token = vault.seal_token(&owner, &token)?;
        let change = ConnectionChange {
            secrets: Some((&record.secret_names, &secrets)),
            token: Some((sealed_token.as_deref(), token.meta())),
            ..Default::default()
        };
        lease.apply(&change).await?;
        let event = AuditEvent::success(None, "connection.rekey", serde_json::json!({"key_id": active}))
            .on_connection(record.id.as_str());
        lease.audit(&event).await?;
        lease.commit().await?;
        count += 1;
    }
    tracing::info!(connections = count, active_key = %active, "re-encrypted under the active key");
    println!("re-encrypted {count} connection(s) under key {active}");
    Ok(())
}

/// Which master key ids seal how many stored values, and which are loaded: what may be dropped.
pub async fn keys_status(db: &DatabaseArgs, key_args: &KeyArgs) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    store.migrate().await.context("applying migrations")?;
    let ring = keys::load(key_args, &store).await?;
    let used = keys::sealed_values(&store).await?;
    let loaded = ring.key_ids();
    println!("{:<24} {:>8}  state", "key id", "values");
    for id in &loaded {
        let n = used.get(*id).copied().unwrap_or(0);
        let state = match (*id == ring.active_key_id(), n) {
            (true, _) => "loaded, active: seals new values",
            (false, 0) => "loaded, unused: may be dropped",
            (false, _) => "loaded: still needed (run `tokenbroker rekey` to move its values to the active key)",
        };
        println!("{id:<24} {n:>8}  {state}");
    }
    let mut missing = false;
    for (id, n) in used.iter().filter(|(id, _)| !loaded.contains(&id.as_str())) {
        missing = true;
        println!("{id:<24} {n:>8}  NOT LOADED: these values cannot be opened");
    }
    if missing {
        bail!("stored values are sealed under master keys that are not loaded");
    }
    Ok(())
}

/// Copies everything from `DATABASE_URL` into the empty database at `to`, sealed values as they
/// are, then checks the row counts match and that every sealed value opens in the target.
pub async fn copy(db: &DatabaseArgs, key_args: &KeyArgs, to: &SecretString) -> anyhow::Result<()> {
    let source = open_store(db).await?;
    source.migrate().await.context("migrating the source")?;
    let ring = keys::load(key_args, &source).await?;
    keys::check_ring(&ring, &source).await?;
    let target = Store::open(to, 4).await.context("opening the target (--to)")?;
    target.check_connection().await?;
    target.migrate().await.context("migrating the target")?;
    let before = target.counts().await?;
    if !before.is_empty() {
        bail!("{} is not empty ({before}); copy only into an empty database", target.location());
    }
    let snapshot = source.export().await.context("reading the source")?;
    target.import(&snapshot).await.context("writing the target")?;
    let (expected, copied) = (snapshot.counts(), target.counts().await?);
    if copied != expected {
        bail!("the target holds {copied} after the copy, the source {expected}: the copy is incomplete");
    }
    // The associated data of a sealed value names its table, row, field and config, never the
    // backend: every one must open where it now lives.
    let vault = Vault::new(Arc::new(ring), true);
    for record in target.list_connections().await? {
        vault.secrets(&record).with_context(|| format!("connection {} after the copy", record.id))?;
        vault.token(&record).with_context(|| format!("connection {} after the copy", record.id))?;
    }
    println!("copied {copied} from {} to {}; every sealed value opens there", source.location(), target.location());
    Ok(())
}
