//! Which tokens were handed out, tallied per principal, connection and minute. The hot path
//! only bumps a counter in memory (one lock, no I/O), in a shard of the tally of its own
//! thread's, so threads handing out tokens at once do not pass one lock's cache line back and
//! forth. Off the hot path the shards are merged, and the tally feeds:
//! - the audit trail: a background task writes each finished minute as one `token.issue`
//!   event (`detail: {count, minute}`), and everything left on shutdown;
//! - refresh-ahead: the connections still in the tally (used within about the last minute)
//!   have their `last_used_at` written by each refresh-ahead pass.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use foldhash::HashMap;
use serde_json::json;
use tokio::sync::watch;

use crate::domain::AuditEvent;
use crate::ids::{ConnectionId, PrincipalId};
use crate::store::Store;

type Bucket = (PrincipalId, ConnectionId, Minute);

/// Whole minutes since the Unix epoch: a division, where a calendar minute (chrono's
/// truncation) costs the hot path hundreds of instructions per hand-out.
type Minute = i64;

/// Hand-outs per minute, per principal, per connection: nested, so counting one more needs no
/// allocation once the principal and connection have been seen in that minute.
type Counts = HashMap<Minute, HashMap<PrincipalId, HashMap<ConnectionId, u64>>>;

pub struct Usage {
    shards: Box<[Shard]>,
}

/// One lock per cache line (128 bytes: adjacent lines are fetched in pairs), so two shards
/// never share one.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Counts>);

/// Runtime worker threads take shards in the order they first hand out a token, so up to this
/// many of them never share one; more threads than that share them round-robin.
const SHARDS: usize = 16;

impl Default for Usage {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Shard::default()).collect() }
    }
}

thread_local! {
    /// This thread's shard, by the order threads first recorded a hand-out.
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

const FLUSH_EVERY: Duration = Duration::from_secs(15);

fn this_minute() -> Minute {
    let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_secs() / 60).unwrap_or(i64::MAX)
}

/// The minute as the audit trail shows it.
fn minute_start(minute: Minute) -> DateTime<Utc> {
    DateTime::from_timestamp(minute.saturating_mul(60), 0).unwrap_or_default()
}

impl Usage {
    /// One hand-out at `at_ms` (milliseconds since the epoch: the caller's clock reading,
    /// which the hot path has already taken for the answer).
    pub fn record(&self, principal: &PrincipalId, connection: &ConnectionId, at_ms: i64) {
        let minute = at_ms.div_euclid(60_000);
        let shard = SHARD.with(|shard| *shard);
        let mut counts = self.shards[shard].0.lock().unwrap_or_else(|p| p.into_inner());
        let by_principal = counts.entry(minute).or_default();
        let by_connection = match by_principal.get_mut(principal.as_str()) {
            Some(by_connection) => by_connection,
            None => by_principal.entry(principal.clone()).or_default(),
        };
        match by_connection.get_mut(connection.as_str()) {
            Some(count) => *count += 1,
            None => {
                by_connection.insert(connection.clone(), 1);
            }
        }
    }

    /// Connections that handed out a token within about the last minute.
    pub fn recent_connections(&self) -> Vec<String> {
        let mut ids: HashSet<String> = HashSet::new();
        for shard in &self.shards {
            let counts = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            for id in counts.values().flat_map(HashMap::values).flat_map(HashMap::keys) {
                if !ids.contains(id.as_str()) {
                    ids.insert(id.as_str().to_owned());
                }
            }
        }
        ids.into_iter().collect()
    }

    /// Takes the buckets of minutes that have ended (all of them when `everything`), each
    /// summed over the shards: one bucket per principal, connection and minute.
    fn take(&self, everything: bool) -> Vec<(Bucket, u64)> {
        let current = this_minute();
        let mut merged: HashMap<Bucket, u64> = HashMap::default();
        for shard in &self.shards {
            let mut counts = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            let done: Vec<Minute> = counts.keys().copied().filter(|m| everything || *m < current).collect();
            for minute in done {
                for (principal, by_connection) in counts.remove(&minute).unwrap_or_default() {
                    for (connection, n) in by_connection {
                        *merged.entry((principal.clone(), connection, minute)).or_default() += n;
                    }
                }
            }
        }
        merged.into_iter().collect()
    }

    /// Puts back what could not be written.
    fn restore(&self, buckets: Vec<(Bucket, u64)>) {
        let mut counts = self.shards[0].0.lock().unwrap_or_else(|p| p.into_inner());
        for ((principal, connection, minute), n) in buckets {
            *counts.entry(minute).or_default().entry(principal).or_default().entry(connection).or_default() += n;
        }
    }

    async fn flush(&self, store: &Store, everything: bool) {
        let buckets = self.take(everything);
        if buckets.is_empty() {
            return;
        }
        let events: Vec<AuditEvent> = buckets
            .iter()
            .map(|((principal, connection, minute), count)| {
                AuditEvent::success(
                    Some(principal),
                    "token.issue",
                    json!({"count": count, "minute": minute_start(*minute)}),
                )
                .on_connection(connection.as_str())
            })
            .collect();
        if let Err(err) = store.record_audit_batch(&events).await {
            tracing::warn!(error = %err, "could not record token hand-outs; keeping them for the next try");
            self.restore(buckets);
        }
    }
}

/// Writes finished minutes to the audit trail until `stop`, then whatever is left.
pub async fn run(usage: std::sync::Arc<Usage>, store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => usage.flush(&store, false).await,
            _ = stop.changed() => break,
        }
    }
    usage.flush(&store, true).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(principal: &str, connection: &str) -> (PrincipalId, ConnectionId) {
        (PrincipalId::from_trusted(principal.into()), ConnectionId::from_trusted(connection.into()))
    }

    /// Hand-outs recorded on several threads (so in several shards) come out as one bucket per
    /// principal, connection and minute, with every hand-out counted once.
    #[test]
    fn shards_are_merged_into_one_bucket_each() {
        let usage = std::sync::Arc::new(Usage::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let usage = std::sync::Arc::clone(&usage);
                std::thread::spawn(move || {
                    let (billing, a) = ids("billing", "a");
                    let (_, b) = ids("billing", "b");
                    for _ in 0..100 {
                        usage.record(&billing, &a, crate::tokens::now_ms());
                    }
                    usage.record(&billing, &b, crate::tokens::now_ms());
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a recording thread");
        }
        let mut recent = usage.recent_connections();
        recent.sort();
        assert_eq!(recent, ["a", "b"]);

        let mut taken = usage.take(true);
        taken.sort_by(|x, y| x.0.1.as_str().cmp(y.0.1.as_str()));
        let counts: Vec<(&str, u64)> = taken.iter().map(|((_, c, _), n)| (c.as_str(), *n)).collect();
        // A minute may have turned while the threads ran: then a connection has two buckets,
        // still 400 and 4 in all.
        let total = |id: &str| counts.iter().filter(|(c, _)| *c == id).map(|(_, n)| n).sum::<u64>();
        assert_eq!((total("a"), total("b")), (400, 4), "{counts:?}");
        assert!(counts.len() <= 4, "one bucket per connection and minute: {counts:?}");
        assert!(usage.take(true).is_empty(), "taken once");

        usage.restore(taken);
        assert_eq!(usage.take(true).iter().map(|(_, n)| n).sum::<u64>(), 404, "what could not be written is kept");
    }
}
