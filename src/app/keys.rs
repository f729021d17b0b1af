//! Master keys: where they come from, and the check that they open what is stored.
//!
//! PostgreSQL needs keys given (`TOKENBROKER_MASTER_KEYS` or `_FILE`). The embedded default,
//! given none, keeps a key file beside its database — made on the first start, only while the
//! database holds nothing sealed, so a lost file is reported instead of silently replaced.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::config::KeyArgs;
use crate::crypto::{KeyRing, generate_key_entry};
use crate::store::Store;

/// The key ring to serve with, from the settings or (embedded default only) the key file.
pub async fn load(args: &KeyArgs, store: &Store) -> anyhow::Result<KeyRing> {
    match (&args.master_keys, &args.master_key_file) {
        (Some(list), None) => parse(list, "TOKENBROKER_MASTER_KEYS"),
        (None, Some(path)) => read_file(path, "TOKENBROKER_MASTER_KEY_FILE"),
        (Some(_), Some(_)) => bail!("set TOKENBROKER_MASTER_KEYS or TOKENBROKER_MASTER_KEY_FILE, not both"),
        (None, None) => match store.sqlite_path() {
            Some(db) => embedded_key_file(db, store).await,
            None => bail!(
                "TOKENBROKER_MASTER_KEYS (or TOKENBROKER_MASTER_KEY_FILE) is required with PostgreSQL; \
                 make one with `tokenbroker gen-master-key`"
            ),
        },
    }
}

fn parse(list: &SecretString, source: &str) -> anyhow::Result<KeyRing> {
    KeyRing::parse(list).with_context(|| format!("{source} is not a valid master key list"))
}

/// Reads a key file, refusing one that others than its owner may read. One exception: a file
/// that another user (root) owns and shares with this process through its group is what an
/// orchestrator mounts (a Kubernetes Secret with `fsGroup`: root, the pod's group, 0440); that
/// group is the only way a non-root broker can read it.
fn read_file(path: &Path, source: &str) -> anyhow::Result<KeyRing> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {source} {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    // Linux: /proc/self belongs to this process's user. Elsewhere, the strict rule applies.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if !private_enough(mode, meta.uid(), me) {
        bail!(
            "{source} {} can be read by group or others (mode {mode:03o}); master keys must be readable by \
             their owner only: run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {source} {}", path.display()))?;
    parse(&SecretString::from(text), source)
}

/// Nobody but the owner may read or write, except the group of a root-owned file that this
/// process (`me`, when known) does not own.
fn private_enough(mode: u32, owner: u32, me: Option<u32>) -> bool {
    let shared_with_us = owner == 0 && me.is_some_and(|me| me != owner);
    mode & 0o007 == 0 && (mode & 0o070 == 0 || shared_with_us)
}

/// `tokenbroker.db` → `tokenbroker.keys`, in the same directory.
pub fn key_file_beside(db: &Path) -> PathBuf {
    db.with_extension("keys")
}

async fn embedded_key_file(db: &Path, store: &Store) -> anyhow::Result<KeyRing> {
    let path = key_file_beside(db);
    if path.exists() {
        let ring = read_file(&path, "the key file")?;
        tracing::info!(path = %path.display(), "master keys loaded from the key file beside the database");
        return Ok(ring);
    }
    let sealed = sealed_values(store).await?;
    if !sealed.is_empty() {
        bail!(
            "{} holds {} sealed value(s) but their key file {} is missing: restore it, or give the keys \
             it held in TOKENBROKER_MASTER_KEYS or TOKENBROKER_MASTER_KEY_FILE (a new key could not open them)",
            db.display(),
            sealed.values().sum::<usize>(),
            path.display()
        );
    }
    let entry = generate_key_entry()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating the key file {}", path.display()))?;
    file.write_all(format!("{entry}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the key file {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "created a master key file beside the database (mode 0600): back it up with the database; \
         in production keep master keys elsewhere (TOKENBROKER_MASTER_KEY_FILE from a secret store)"
    );
    parse(&SecretString::from(entry), "the new key file")
}

/// How many stored values each master key id seals (none are decrypted to count).
pub async fn sealed_values(store: &Store) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for record in store.list_connections().await.context("reading connections")? {
        for sealed in std::iter::once(&record.secrets).chain(record.token.as_ref()) {
            let id = KeyRing::sealed_key_id(sealed).unwrap_or("(unreadable header)");
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Refuses to go on when stored values are sealed under keys that are not loaded: every one of
/// them would fail on first use, and a broker that says it is ready must be able to serve.
pub async fn check_ring(ring: &KeyRing, store: &Store) -> anyhow::Result<()> {
    let loaded = ring.key_ids();
    let missing: Vec<String> = sealed_values(store)
        .await?
        .into_iter()
        .filter(|(id, _)| !loaded.contains(&id.as_str()))
        .map(|(id, n)| format!("{id} ({n} value{})", if n == 1 { "" } else { "s" }))
        .collect();
    if !missing.is_empty() {
        bail!(
            "stored secrets are sealed under master key(s) that are not loaded: {}. Loaded: {}. Give every \
             key still in use in TOKENBROKER_MASTER_KEYS or TOKENBROKER_MASTER_KEY_FILE (the first encrypts new \
             values, all decrypt); `tokenbroker keys status` shows which keys seal what",
            missing.join(", "),
            loaded.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::private_enough;

    #[test]
    fn key_files_are_private_unless_the_platform_shares_them_through_a_group() {
        assert!(private_enough(0o600, 1000, Some(1000)));
        assert!(private_enough(0o400, 65532, Some(65532)));
        assert!(!private_enough(0o640, 1000, Some(1000)), "group-readable, ours");
        assert!(!private_enough(0o644, 1000, Some(1000)), "world-readable");
        assert!(!private_enough(0o640, 0, Some(0)), "root's own file, group-readable");
        // A Kubernetes Secret with fsGroup: root-owned, 0440, read through the pod's group.
        assert!(private_enough(0o440, 0, Some(65532)));
        assert!(!private_enough(0o444, 0, Some(65532)), "world-readable even when mounted");
        assert!(!private_enough(0o440, 1000, Some(65532)), "another user's file shared by group");
        assert!(!private_enough(0o440, 0, None), "unknown process user: strict");
    }
}
