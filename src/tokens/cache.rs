//! Tokens in memory: the answer to a token request, built once per row generation, so a
//! cached token is answered without touching the database.
//!
//! Coherence: an entry is re-checked against the row within `ttl` (≤ 5 s): in the background
//! by one caller once it is half that old, so callers meanwhile keep the answer from memory
//! instead of each reading the row at once; by the caller itself once it is older (no traffic
//! kept it fresh, a re-check failed, or the database is slow: see [`QUICK_READ`]); a change
//! notification with a newer generation evicts it; a change through this replica replaces or
//! evicts it before the answer is sent. While the database is unreachable a cached token that
//! still satisfies the caller is served.

use foldhash::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// How long the read that put or confirmed the entry took.
    read_took: Duration,
    /// A caller has been sent to re-check it in the background.
    rechecking: AtomicBool,
}

impl Slot {
    fn new(entry: Arc<Entry>, read_took: Duration) -> Self {
        Self { entry, checked: Instant::now(), read_took, rechecking: AtomicBool::new(false) }
    }
}

/// A row whose last read took longer than this is not re-checked in the background: on a slow
/// database the re-check (twice as often as the inline one) would hold a pooled connection
/// that key checks and refreshes are waiting for, or make the pool open another one through
/// the slow link. Such a row is read inline at the TTL, by the caller that finds it stale.
pub const QUICK_READ: Duration = Duration::from_millis(100);

/// How an entry may be used, by the time since it was last checked against its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Checked within half the TTL, or being re-checked, or slow to read.
    Fresh,
    /// Past half the TTL: usable, and this caller is the one to start its re-check.
    Recheck,
    /// Past the TTL: the row must be read before the entry is trusted.
    Stale,
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

    /// The entry and how it may be used. Of the callers that find it past half its TTL,
    /// exactly one is told to re-check it; a re-check that fails leaves it to become stale.
    pub fn get(&self, id: &str) -> Option<(Arc<Entry>, Freshness)> {
        self.peek(id, |entry, freshness| (Arc::clone(entry), freshness))
    }

    /// [`Self::get`] for a caller that is done with the entry before it returns: `use_entry`
    /// runs under the read lock, so the hot path does not take (and let go of) a reference to
    /// an entry every thread is using, two writes to one shared cache line per request.
    pub fn peek<R>(&self, id: &str, use_entry: impl FnOnce(&Arc<Entry>, Freshness) -> R) -> Option<R> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        let slot = slots.get(id)?;
        let age = slot.checked.elapsed();
        let freshness = if age >= self.ttl {
            Freshness::Stale
        } else if age >= self.ttl / 2
            && slot.read_took < QUICK_READ
            // Read first: once someone is re-checking, the others do not write the flag's line.
            && !slot.rechecking.load(Ordering::Relaxed)
            && !slot.rechecking.swap(true, Ordering::AcqRel)
        {
            Freshness::Recheck
        } else {
            Freshness::Fresh
        };
        Some(use_entry(&slot.entry, freshness))
    }

    /// Caches `entry`, read in `read_took`, unless a newer generation of the row is known.
    pub fn put(&self, id: &str, entry: Arc<Entry>, read_took: Duration) {
        let generation = entry.record.generation;
        let floor = self.floors.read().unwrap_or_else(|p| p.into_inner()).get(id).copied();
        if floor.is_some_and(|(min, at)| generation < min && at.elapsed() < FLOOR_LIFE) {
            return;
        }
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        if slots.get(id).is_some_and(|s| s.entry.record.generation > generation) {
            return;
        }
        slots.insert(id.to_owned(), Slot::new(entry, read_took));
    }

    /// The row was read again, in `read_took`, and had not changed.
    pub fn confirm(&self, id: &str, read_took: Duration) {
        if let Some(slot) = self.slots.write().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            slot.checked = Instant::now();
            slot.read_took = read_took;
            *slot.rechecking.get_mut() = false;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionStatus, TokenMeta};
    use crate::ids::ConnectionId;

    fn entry(generation: i64) -> Arc<Entry> {
        let record = ConnectionRecord {
            id: ConnectionId::parse("id", "c").unwrap(),
            provider: "qubs".into(),
            description: String::new(),
            config: serde_json::json!({}),
            secret_names: vec![],
            secrets: vec![],
            status: ConnectionStatus::Active,
            token: None,
            token_meta: TokenMeta::default(),
            last_error: None,
            failure_count: 0,
            retry_not_before: None,
            last_used_at: None,
            generation,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        Arc::new(Entry { record, token: None })
    }

    fn freshness(cache: &TokenCache) -> Freshness {
        cache.get("c").map(|(_, f)| f).unwrap()
    }

    /// Past half the TTL one caller, and only one, is sent to re-check; the rest keep using the
    /// entry until the re-check confirms or replaces it, or the TTL runs out.
    #[test]
    fn one_caller_rechecks_past_half_the_ttl_and_the_ttl_still_bounds_use() {
        let ttl = Duration::from_millis(200);
        let cache = TokenCache::new(ttl);
        cache.put("c", entry(1), Duration::ZERO);
        assert_eq!(freshness(&cache), Freshness::Fresh);

        std::thread::sleep(ttl / 2);
        assert_eq!(freshness(&cache), Freshness::Recheck);
        assert_eq!(freshness(&cache), Freshness::Fresh, "a second caller does not re-check too");
        cache.confirm("c", Duration::ZERO);
        assert_eq!(freshness(&cache), Freshness::Fresh);

        std::thread::sleep(ttl / 2);
        assert_eq!(freshness(&cache), Freshness::Recheck, "after a confirmation, the next re-check is due again");
        // That re-check failed (the database was down): nobody else re-checks in the
        // background, and past the TTL every caller must read the row.
        std::thread::sleep(ttl / 2);
        assert_eq!(freshness(&cache), Freshness::Stale);
        assert_eq!(freshness(&cache), Freshness::Stale);

        cache.put("c", entry(2), Duration::ZERO);
        assert_eq!(freshness(&cache), Freshness::Fresh, "a new generation starts afresh");
    }

    /// A row that was slow to read is left to the inline read at the TTL: no background
    /// re-check holds a connection of a slow database.
    #[test]
    fn a_slow_read_is_not_rechecked_in_the_background() {
        let ttl = Duration::from_millis(200);
        let cache = TokenCache::new(ttl);
        cache.put("c", entry(1), QUICK_READ);
        std::thread::sleep(ttl / 2);
        assert_eq!(freshness(&cache), Freshness::Fresh);
        std::thread::sleep(ttl / 2);
        assert_eq!(freshness(&cache), Freshness::Stale);
        cache.confirm("c", Duration::ZERO);
        std::thread::sleep(ttl / 2);
        assert_eq!(freshness(&cache), Freshness::Recheck, "quick again: re-checked in the background");
    }
}
