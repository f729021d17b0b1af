//! API keys in memory, so the hot path does not read the database for every call, and never
//! trusts memory for longer than the revocation bound.
//!
//! A key is accepted from memory only while its last successful check is younger than `ttl`
//! (≤ 5 s: the contract's bound for a revocation to reach every replica). Keys in use are
//! re-checked in the background from half the TTL on, so a busy key rarely waits; past the
//! TTL a request waits for the check, up to [`CHECK_DEADLINE`], and if the database cannot
//! answer it is refused with 503 (the key may be fine) — never accepted on stale knowledge.
//! A change through this replica or a change notification untrusts every key at once.
//! Concurrent checks of one key share one query. Once a check could not reach the database,
//! requests that need one are answered 503 at once while a background probe (one at a time)
//! finds out when it is back.

use foldhash::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::limits::{Cell, FailureLimiter, LimitName, PrincipalLimits, Rate, Source};
use super::unknown::UnknownKeys;
use super::{AuthError, Caller, hash_key};
use crate::domain::Authenticated;
use crate::store::{Store, StoreError};

/// SHA-256 of a presented key.
pub type KeyHash = [u8; 32];
/// Nanoseconds since the cache was made: one monotonic clock for checks and changes.
pub type Ticks = u64;

/// How long a check may wait for the database: as long as a pooled query may normally wait
/// for a connection, and no longer than the revocation bound, so that an answer decided by a
/// check that began before a revocation still comes within 5 s of it.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(5);

/// While the database is failing, how often it is probed (by a check of whichever key is
/// asked for next): requests meanwhile are answered 503 at once instead of each waiting.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// A probe still waiting after this no longer holds the next one back: it may be stuck on a
/// pooled connection that a partition killed (its packets vanish, so it waits out
/// [`CHECK_DEADLINE`]) while a new connection would get through at once.
const PROBE_STALL: Duration = Duration::from_secs(1);

/// What the broker was started with.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    /// How long a successful check is trusted (at most 5 s).
    pub ttl: Duration,
    /// Requests per principal.
    pub principals: Rate,
    /// Failed authentications per source address.
    pub failures: Rate,
}

pub struct AuthCache {
    base: Instant,
    ttl: Ticks,
    entries: RwLock<HashMap<KeyHash, Entry>>,
    /// Keys checked at or before this are not trusted: something changed since.
    changed_at: AtomicU64,
    /// Keys checked at or before this are re-checked in the background at their next use
    /// (change notifications may have been missed).
    recheck_before: AtomicU64,
    flights: Mutex<HashMap<KeyHash, Flight>>,
    unknown: UnknownKeys,
    /// The last check could not reach the database: until one does, checks run one at a time.
    unreachable: AtomicBool,
    /// When the latest check that reached the database began: an older check that fails
    /// later (a stalled probe) does not mark the database unreachable again.
    reached: AtomicU64,
    probing: AtomicBool,
    last_probe: AtomicU64,
    principals: PrincipalLimits,
    failures: FailureLimiter,
}

struct Entry {
    /// Shared with every caller it admits: the hot path copies a pointer, not the grants.
    found: Arc<Authenticated>,
    /// The principal's allowance, so that admitting a request needs no look-up.
    rate: Cell,
    /// When the check that read `found` began.
    checked: Ticks,
    /// A background re-check is under way.
    refreshing: AtomicBool,
}

/// A check in progress; everyone who needs the same key waits for the same answer.
#[derive(Clone)]
struct Flight {
    started: Ticks,
    done: watch::Receiver<Option<Outcome>>,
}

#[derive(Clone)]
enum Outcome {
    Found(Arc<Authenticated>),
    Unknown,
    Unreachable,
    Failed,
}

impl AuthCache {
    pub fn new(settings: AuthSettings) -> Self {
        let ttl = ticks_of(settings.ttl.min(CHECK_DEADLINE));
        Self {
            base: Instant::now(),
            ttl,
            entries: RwLock::new(HashMap::default()),
            changed_at: AtomicU64::new(0),
            recheck_before: AtomicU64::new(0),
            flights: Mutex::new(HashMap::default()),
            unknown: UnknownKeys::new(ttl),
            unreachable: AtomicBool::new(false),
            reached: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            last_probe: AtomicU64::new(0),
            principals: PrincipalLimits::new(LimitName::Principal, settings.principals),
            failures: FailureLimiter::new(settings.failures),
        }
    }

    fn now(&self) -> Ticks {
        ticks_of(self.base.elapsed())
    }

    /// The caller `presented` authenticates, within its principal's rate limit. `source` is
    /// the peer address, for the limit on failed authentications.
    pub async fn authenticate(
        self: &Arc<Self>,
        store: &Store,
        presented: &str,
        source: Option<IpAddr>,
    ) -> Result<Caller, AuthError> {
        let source = source.map_or_else(Source::unknown, Source::of);
        let hash = hash_key(presented);
        let now = self.now();
        let changed = self.changed_at.load(Ordering::SeqCst);
        let known = {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            match entries.get(&hash) {
                Some(entry) if entry.checked > changed && now.saturating_sub(entry.checked) < self.ttl => {
                    let due = now.saturating_sub(entry.checked) >= self.ttl / 2
                        || entry.checked <= self.recheck_before.load(Ordering::Relaxed);
                    if due {
                        self.refresh_in_background(store, hash, &entry.refreshing);
                    }
                    // Under the read lock: admitting is one compare-and-swap on the entry's cell.
                    let vouched = self.vouch(entry.found.clone(), &entry.rate, source);
                    drop(entries);
                    return vouched;
                }
                Some(_) => true,
                None => false,
            }
        };
        if !known {
            // A key this replica does not know may cost a query: not for a source that is
            // over its failed authentications, nor for a key the database just said it lacks.
            self.failures.refusing(source).map_err(AuthError::RateLimited)?;
            if self.unknown.contains(&hash, now, changed) {
                return Err(self.failed_attempt(source));
            }
        }
        // Boxed: the cached path above should not carry (and move) the query's state.
        match Box::pin(self.check_now(store, hash)).await {
            Outcome::Found(found) => {
                let rate = self.principals.cell(&found.principal_id);
                self.vouch(found, &rate, source)
            }
            Outcome::Unknown => Err(self.failed_attempt(source)),
            Outcome::Unreachable => Err(AuthError::Unavailable),
            Outcome::Failed => Err(AuthError::CheckFailed),
        }
    }

    /// A credential was presented and refused: counted against its source, which is told to
    /// wait once it is over its limit.
    pub fn failed_attempt(&self, source: Source) -> AuthError {
        match self.failures.failed(source) {
            Ok(()) => AuthError::Invalid,
            Err(refused) => AuthError::RateLimited(refused),
        }
    }

    /// A looked-up key: refused if revoked or expired (a failed attempt), else admitted
    /// within its principal's allowance, `rate`.
    fn vouch(&self, found: Arc<Authenticated>, rate: &Cell, source: Source) -> Result<Caller, AuthError> {
        let caller = Caller::from_authenticated(found).map_err(|_| self.failed_attempt(source))?;
        rate.admit().map_err(AuthError::RateLimited)?;
        Ok(caller)
    }

    /// Checks `hash` against the database and waits for the answer. Once a check could not
    /// reach the database, nobody waits: the database is probed in the background and the
    /// request is answered at once, until a probe gets through.
    async fn check_now(self: &Arc<Self>, store: &Store, hash: KeyHash) -> Outcome {
        if self.unreachable.load(Ordering::SeqCst) {
            self.probe(store, hash);
            return Outcome::Unreachable;
        }
        let mut done = self.join_or_start_flight(store, hash).done;
        match done.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Outcome::Failed),
            Err(_) => Outcome::Failed,
        }
    }

    fn refresh_in_background(self: &Arc<Self>, store: &Store, hash: KeyHash, refreshing: &AtomicBool) {
        if self.unreachable.load(Ordering::SeqCst) {
            self.probe(store, hash);
        } else if !refreshing.swap(true, Ordering::SeqCst) {
            self.join_or_start_flight(store, hash);
        }
    }

    /// While the database is failing: one check at a time (unless it has stalled for
    /// [`PROBE_STALL`]), at most one every [`PROBE_INTERVAL`], whoever's key it is.
    fn probe(self: &Arc<Self>, store: &Store, hash: KeyHash) {
        let now = self.now();
        let last = self.last_probe.load(Ordering::SeqCst);
        let since = now.saturating_sub(last);
        if since < ticks_of(PROBE_INTERVAL)
            || (self.probing.swap(true, Ordering::SeqCst) && since < ticks_of(PROBE_STALL))
        {
            return;
        }
        self.last_probe.store(now, Ordering::SeqCst);
        self.start_flight(store, hash, true);
    }

    fn join_or_start_flight(self: &Arc<Self>, store: &Store, hash: KeyHash) -> Flight {
        let now = self.now();
        let changed = self.changed_at.load(Ordering::SeqCst);
        let flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        // A check that began before the last change may have read what the change replaced.
        if let Some(flight) = flights.get(&hash)
            && flight.started > changed
            && now.saturating_sub(flight.started) < ticks_of(CHECK_DEADLINE)
        {
            return flight.clone();
        }
        drop(flights);
        self.start_flight(store, hash, false)
    }

    /// Starts a check as a task of its own, so that a caller going away does not cancel it.
    fn start_flight(self: &Arc<Self>, store: &Store, hash: KeyHash, probe: bool) -> Flight {
        let (send, done) = watch::channel(None);
        let flight = Flight { started: self.now(), done };
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).insert(hash, flight.clone());
        let (this, store, started) = (Arc::clone(self), store.clone(), flight.started);
        tokio::spawn(async move {
            let outcome = lookup(&store, &hash).await;
            this.record(hash, started, &outcome);
            if probe {
                this.probing.store(false, Ordering::SeqCst);
            }
            let mut flights = this.flights.lock().unwrap_or_else(|p| p.into_inner());
            if flights.get(&hash).is_some_and(|f| f.started == started) {
                flights.remove(&hash);
            }
            drop(flights);
            let _ = send.send(Some(outcome));
        });
        flight
    }

    /// Keeps what a check that began at `started` found, unless something newer is known.
    fn record(&self, hash: KeyHash, started: Ticks, outcome: &Outcome) {
        let reachable = !matches!(outcome, Outcome::Unreachable);
        if reachable {
            self.reached.fetch_max(started, Ordering::SeqCst);
        }
        let overtaken = !reachable && self.reached.load(Ordering::SeqCst) > started;
        if !overtaken && self.unreachable.swap(!reachable, Ordering::SeqCst) == reachable {
            if reachable {
                tracing::info!("API keys are verified against the database again");
            } else {
                tracing::warn!(
                    bound_ms = self.ttl / 1_000_000,
                    "the database is unreachable: API keys are accepted only while their last check is within the bound"
                );
            }
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let newer = entries.get(&hash).is_some_and(|e| e.checked >= started);
        match outcome {
            Outcome::Found(found) if !newer => {
                let rate = self.principals.cell(&found.principal_id);
                let entry = Entry { found: found.clone(), rate, checked: started, refreshing: AtomicBool::new(false) };
                entries.insert(hash, entry);
                drop(entries);
                self.unknown.forget(&hash);
            }
            Outcome::Unknown => {
                if !newer {
                    entries.remove(&hash);
                }
                drop(entries);
                self.unknown.insert(hash, started, self.now());
            }
            _ => {
                if let Some(entry) = entries.get(&hash) {
                    entry.refreshing.store(false, Ordering::SeqCst);
                }
            }
        }
    }

    /// Keys, grants or principals changed (through this replica, before it answers; or on
    /// another, by notification): no key is trusted until it is checked again.
    pub fn clear(&self) {
        let now = self.now();
        self.changed_at.fetch_max(now, Ordering::SeqCst);
        self.unknown.clear();
    }

    /// Change notifications may have been missed (the subscription dropped or came back):
    /// every key is re-checked in the background at its next use. It stays trusted only
    /// within the bound meanwhile, so a lost notification delays a revocation by at most that
    /// (and a key created meanwhile is refused for at most the TTL of the unknown keys' memory).
    pub fn revalidate_all(&self) {
        self.recheck_before.fetch_max(self.now(), Ordering::SeqCst);
    }
}

fn ticks_of(duration: Duration) -> Ticks {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One query for the key, bounded by [`CHECK_DEADLINE`]; counted by outcome (never by key).
async fn lookup(store: &Store, hash: &KeyHash) -> Outcome {
    let (outcome, label) = match tokio::time::timeout(CHECK_DEADLINE, store.authenticate(hash)).await {
        Ok(Ok(Some(found))) => (Outcome::Found(Arc::new(found)), "found"),
        Ok(Ok(None)) => (Outcome::Unknown, "unknown"),
        Ok(Err(StoreError::Unavailable(err))) => {
            tracing::debug!(error = %err, "API key check: database unreachable");
            (Outcome::Unreachable, "unreachable")
        }
        Err(_) => (Outcome::Unreachable, "unreachable"),
        Ok(Err(err)) => {
            let mut chain = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(error = %chain, "API key check failed");
            (Outcome::Failed, "error")
        }
    };
    metrics::counter!("tokenbroker_auth_checks_total", "outcome" => label).increment(1);
    outcome
}
