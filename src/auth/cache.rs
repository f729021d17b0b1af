//! API keys in memory, so the hot path does not read the database for every call.
//!
//! Coherence: an entry is re-read after `ttl` (≤ 5 s, the contract's bound for revocation on
//! other replicas); a change notification clears everything at once; a change made through
//! this replica clears it before the answer is sent. While the database is unreachable, a key
//! already known is still accepted (stale), so cached tokens keep flowing.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{AuthError, Caller, hash_key};
use crate::domain::Authenticated;
use crate::store::{Store, StoreError};

pub struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<Vec<u8>, (Authenticated, Instant)>>,
    /// Bumped by every change: a lookup that began before a change does not cache its result.
    epoch: AtomicU64,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: RwLock::new(HashMap::new()), epoch: AtomicU64::new(0) }
    }

    pub async fn authenticate(&self, store: &Store, presented: &str) -> Result<Caller, AuthError> {
        let hash = hash_key(presented);
        let cached = self.entries.read().unwrap_or_else(|p| p.into_inner()).get(&hash).cloned();
        if let Some((found, checked)) = &cached
            && checked.elapsed() < self.ttl
        {
            return Caller::from_authenticated(found.clone());
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let lookup = store.authenticate(&hash);
        // With a copy in hand, a database that is down or slow must not hold the caller up.
        let found = if cached.is_some() { store.recheck(lookup).await } else { lookup.await };
        match found {
            Ok(Some(found)) => {
                let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
                if self.epoch.load(Ordering::SeqCst) == epoch {
                    entries.insert(hash, (found.clone(), Instant::now()));
                }
                drop(entries);
                Caller::from_authenticated(found)
            }
            Ok(None) => {
                self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(&hash);
                Err(AuthError::Invalid)
            }
            Err(StoreError::Unavailable(_)) if cached.is_some() => {
                let (found, _) = cached.ok_or(AuthError::Invalid)?;
                Caller::from_authenticated(found)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Forget every key: keys, grants or principals changed through this replica, and the
    /// change must hold here before it is answered.
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    /// Re-read every key before its next use (another replica changed something), keeping them
    /// for use while the database is down.
    pub fn revalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let stale = Instant::now().checked_sub(self.ttl).unwrap_or_else(Instant::now);
        for (_, checked) in self.entries.write().unwrap_or_else(|p| p.into_inner()).values_mut() {
            *checked = stale;
        }
    }
}
