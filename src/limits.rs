//! Rate limits, per replica, with GCRA (governor): a key may use `burst` requests at once, then
//! one per interval; a refused request is told how long to wait.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foldhash::HashMap;
use governor::clock::{Clock as _, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};

/// A limit as configured: `per_second` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        NonZeroU32::new(self.per_second)
            .zip(NonZeroU32::new(self.burst))
            .map(|(per_second, burst)| Quota::per_second(per_second).allow_burst(burst))
    }
}

/// A limit counted per minute (refreshes of one connection): `per_minute` 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerMinute {
    pub per_minute: u32,
    pub burst: u32,
}

impl PerMinute {
    fn quota(self) -> Option<Quota> {
        NonZeroU32::new(self.per_minute)
            .zip(NonZeroU32::new(self.burst))
            .map(|(per_minute, burst)| Quota::per_minute(per_minute).allow_burst(burst))
    }
}

/// Which limit refused a request: the `limit` label of `tokenbroker_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitName {
    Principal,
    AuthFailures,
    /// Vendor refreshes one connection may cause, and rejected-token reports that come too soon.
    ConnectionRefresh,
}

impl LimitName {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::Principal => "principal",
            LimitName::AuthFailures => "auth_failures",
            LimitName::ConnectionRefresh => "connection_refresh",
        }
    }

    /// Counts a refusal by this limit.
    pub fn count_refusal(self) {
        metrics::counter!("tokenbroker_rate_limited_total", "limit" => self.as_str()).increment(1);
    }

    /// A request this limit refused (counted), told how long until one would be let through.
    fn refused(self, not_until: &NotUntil<Instant>) -> Refused {
        self.count_refusal();
        Refused { limit: self, retry_after: not_until.wait_time_from(MonotonicClock.now()) }
    }
}

/// A refused request: which limit, and how long until it would be let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub limit: LimitName,
    pub retry_after: Duration,
}

/// The OS's monotonic clock (not the TSC, which need not agree between the cores of a
/// virtual machine: a request timed on a core that is behind would look early and be refused).
type KeyedLimiter<K> = RateLimiter<K, DashMapStateStore<K>, MonotonicClock, NoOpMiddleware<Instant>>;

/// One keyed limit. Checking a key it already tracks allocates nothing; a new key is copied
/// once into the store.
pub struct Limiter<K: Hash + Eq + Clone> {
    name: LimitName,
    inner: Option<KeyedLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(name: LimitName, rate: Rate) -> Self {
        Self::with_quota(name, rate.quota())
    }

    pub fn per_minute(name: LimitName, rate: PerMinute) -> Self {
        Self::with_quota(name, rate.quota())
    }

    fn with_quota(name: LimitName, quota: Option<Quota>) -> Self {
        Self { name, inner: quota.map(|quota| KeyedLimiter::dashmap_with_clock(quota, MonotonicClock)) }
    }

    /// Takes one request from `key`'s allowance, or says how long until there is one.
    pub fn admit(&self, key: &K) -> Result<(), Refused> {
        let Some(limiter) = &self.inner else { return Ok(()) };
        limiter.check_key(key).map_err(|not_until| self.name.refused(&not_until))
    }

    /// Drops keys that are back to a full burst (they hold no information).
    pub fn sweep(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys tracked (the failure limiter sweeps above a size).
    pub fn tracked(&self) -> usize {
        self.inner.as_ref().map_or(0, KeyedLimiter::len)
    }
}

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<Instant>>;

/// One limit per key, as cells that callers keep: whoever holds a key's [`Cell`] is admitted
/// with one compare-and-swap, without hashing the key or locking a map on every request.
/// Every holder of the same key's cell shares one allowance. Cells are never dropped, so the
/// keys must come from a bounded set (principals, which only admins create).
pub struct Cells<K: Hash + Eq + Clone> {
    name: LimitName,
    quota: Option<Quota>,
    cells: Mutex<HashMap<K, Cell>>,
}

/// One key's allowance (no limit when the limit is off).
#[derive(Clone)]
pub struct Cell {
    name: LimitName,
    inner: Option<Arc<DirectLimiter>>,
}

impl<K: Hash + Eq + Clone> Cells<K> {
    pub fn new(name: LimitName, rate: Rate) -> Self {
        Self { name, quota: rate.quota(), cells: Mutex::new(HashMap::default()) }
    }

    /// `key`'s cell: the same allowance for everyone who asks for the same key.
    pub fn cell(&self, key: &K) -> Cell {
        let Some(quota) = self.quota else { return Cell { name: self.name, inner: None } };
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cell) = cells.get(key) {
            return cell.clone();
        }
        let cell =
            Cell { name: self.name, inner: Some(Arc::new(DirectLimiter::direct_with_clock(quota, MonotonicClock))) };
        cells.insert(key.clone(), cell.clone());
        cell
    }
}

impl Cell {
    /// Takes one request from the allowance, or says how long until there is one.
    pub fn admit(&self) -> Result<(), Refused> {
        let Some(limiter) = &self.inner else { return Ok(()) };
        limiter.check().map_err(|not_until| self.name.refused(&not_until))
    }
}
