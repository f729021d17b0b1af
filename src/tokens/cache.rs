//! Tokens in memory: the answer to a token request, built once per row generation, so a
//! cached token is answered without touching the database.
//!
//! Coherence: an entry is re-checked against the row after `ttl` (≤ 5 s); a change
//! notification with a newer generation evicts it; a change through this replica replaces or
//! evicts it before the answer is sent. While the database is unreachable a cached token that
//! still satisfies the caller is served.

use foldhash::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::IssuedToken;
use crate::credentials::AccessToken;
use crate::domain::ConnectionRecord;

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
    /// Per connection, the oldest generation that may still be cached, set by a change: a read
    /// that began before the change cannot put the old row back. Kept for `FLOOR_LIFE`.
    floors: RwLock<HashMap<String, (i64, Instant)>>,
}

/// Longer than any read of a row can take; after it, a re-created connection starts afresh.
const FLOOR_LIFE: Duration = Duration::from_secs(30);

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slots: RwLock::new(HashMap::default()), floors: RwLock::new(HashMap::default()) }
    }

    /// The entry and whether it was checked within `ttl`.
    pub fn get(&self, id: &str) -> Option<(Arc<Entry>, bool)> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        slots.get(id).map(|s| (s.entry.clone(), s.checked.elapsed() < self.ttl))
    }

    /// Caches `entry` unless a newer generation of the row is known.
    pub fn put(&self, id: &str, entry: Arc<Entry>) {
        let generation = entry.record.generation;
        let floor = self.floors.read().unwrap_or_else(|p| p.into_inner()).get(id).copied();
        if floor.is_some_and(|(min, at)| generation < min && at.elapsed() < FLOOR_LIFE) {
            return;
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        if slots.get(id).is_some_and(|s| s.entry.record.generation > generation) {
            return;
        }
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

    /// A row changed to `generation` (`None`: deleted): drop what is older, and refuse to cache
    /// anything older for a while.
    pub fn changed(&self, id: &str, generation: Option<i64>) {
        let min = generation.unwrap_or(i64::MAX);
        {
            let mut floors = self.floors.write().unwrap_or_else(|p| p.into_inner());
            floors.retain(|_, (_, at)| at.elapsed() < FLOOR_LIFE);
            let floor = floors.entry(id.to_owned()).or_insert((min, Instant::now()));
            *floor = (floor.0.max(min), Instant::now());
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        if slots.get(id).is_some_and(|s| s.entry.record.generation < min) {
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
