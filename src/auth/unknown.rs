//! Hashes of keys the database did not know, remembered briefly so that a client repeating a
//! wrong key costs no query per try. Bounded; forgotten after the cache TTL and whenever keys
//! change (a key just created on another replica is refused here only until its change
//! notification arrives, or for the TTL if that is lost).

use std::collections::HashMap;
use std::sync::Mutex;

use super::cache::{KeyHash, Ticks};

/// More distinct unknown keys than this within one TTL is a flood from many sources; the
/// per-source limit bounds the queries it causes, so the memory is simply started afresh.
const CAPACITY: usize = 4096;

pub struct UnknownKeys {
    ttl: Ticks,
    seen: Mutex<HashMap<KeyHash, Ticks>>,
}

impl UnknownKeys {
    pub fn new(ttl: Ticks) -> Self {
        Self { ttl, seen: Mutex::new(HashMap::new()) }
    }

    /// Whether the database said `hash` was unknown at a time after `valid_after`, within the TTL.
    pub fn contains(&self, hash: &KeyHash, now: Ticks, valid_after: Ticks) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(hash).is_some_and(|&at| at > valid_after && now.saturating_sub(at) < self.ttl)
    }

    /// The database said `hash` is unknown, in a read that began at `checked`.
    pub fn insert(&self, hash: KeyHash, checked: Ticks, now: Ticks) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= CAPACITY {
            seen.retain(|_, at| now.saturating_sub(*at) < self.ttl);
            if seen.len() >= CAPACITY {
                seen.clear();
            }
        }
        let at = seen.entry(hash).or_insert(checked);
        *at = (*at).max(checked);
    }

    pub fn forget(&self, hash: &KeyHash) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(hash);
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_within_the_ttl_and_after_the_last_change_only() {
        let unknown = UnknownKeys::new(100);
        unknown.insert([1; 32], 10, 10);
        assert!(unknown.contains(&[1; 32], 50, 0));
        assert!(!unknown.contains(&[1; 32], 110, 0), "past the TTL");
        assert!(!unknown.contains(&[1; 32], 50, 10), "checked before a change");
        assert!(!unknown.contains(&[2; 32], 50, 0));
    }

    #[test]
    fn stays_bounded_under_a_flood_of_distinct_keys() {
        let unknown = UnknownKeys::new(1_000_000);
        for i in 0..(CAPACITY as u32 * 3) {
            let mut hash = [0; 32];
            hash[..4].copy_from_slice(&i.to_le_bytes());
            unknown.insert(hash, 1, 1);
        }
        assert!(unknown.seen.lock().unwrap().len() <= CAPACITY);
    }
}
