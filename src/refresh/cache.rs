//! Tokens in memory: the answer to a token request, built once per row generation, so a
//! cached token is answered without touching the database.
//!
//! Coherence: an entry is re-checked against the row after `ttl` (≤ 5 s); a change
//! notification with a newer generation evicts it; a change through this replica replaces or
//! evicts it before the answer is sent. While the database is unreachable a cached token that
//! still satisfies the caller is served.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::IssuedToken;
use super::state::AccessToken;
use crate::store::ConnectionRecord;

/// A connection as last read, with its usable access token (if any) ready to hand out.
pub struct Entry {
    pub record: ConnectionRecord,
    pub token: Option<(AccessToken, IssuedToken)>,
}

struct Slot {
    entry: Arc<Entry>,
    checked: Instant,
}

pub struct TokenCache {
    ttl: Duration,
    slots: RwLock<HashMap<String, Slot>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slots: RwLock::new(HashMap::new()) }
    }

    /// The entry and whether it was checked within `ttl`.
    pub fn get(&self, id: &str) -> Option<(Arc<Entry>, bool)> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        slots.get(id).map(|s| (s.entry.clone(), s.checked.elapsed() < self.ttl))
    }

    pub fn put(&self, id: &str, entry: Arc<Entry>) {
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        slots.insert(id.to_owned(), Slot { entry, checked: Instant::now() });
    }

    /// The row was read again and had not changed.
    pub fn confirm(&self, id: &str) {
        if let Some(slot) = self.slots.write().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            slot.checked = Instant::now();
        }
    }

    pub fn evict(&self, id: &str) {
        self.slots.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// A row changed to `generation` (`None`: deleted): drop what is older.
    pub fn changed(&self, id: &str, generation: Option<i64>) {
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        let stale = slots.get(id).is_some_and(|s| generation.is_none_or(|g| s.entry.record.generation < g));
        if stale {
            slots.remove(id);
        }
    }

    /// Re-check every entry before its next use, keeping them for use while the database is down.
    pub fn revalidate_all(&self) {
        let stale = Instant::now().checked_sub(self.ttl).unwrap_or_else(Instant::now);
        for slot in self.slots.write().unwrap_or_else(|p| p.into_inner()).values_mut() {
            slot.checked = stale;
        }
    }
}
