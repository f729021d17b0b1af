//! Which tokens were handed out, tallied per principal, connection and minute. The hot path
//! only bumps a counter in memory (one lock, no I/O). Off the hot path the tally feeds:
//! - the audit trail: a background task writes each finished minute as one `token.issue`
//!   event (`detail: {count, minute}`), and everything left on shutdown;
//! - refresh-ahead: the connections still in the tally (used within about the last minute)
//!   have their `last_used_at` written by each refresh-ahead pass.

use std::collections::HashSet;
use std::sync::Mutex;
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

#[derive(Default)]
pub struct Usage(Mutex<Counts>);

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
    pub fn record(&self, principal: &PrincipalId, connection: &ConnectionId) {
        let minute = this_minute();
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
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
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let ids: HashSet<&str> =
            counts.values().flat_map(HashMap::values).flat_map(HashMap::keys).map(ConnectionId::as_str).collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    /// Takes the buckets of minutes that have ended (all of them when `everything`).
    fn take(&self, everything: bool) -> Vec<(Bucket, u64)> {
        let current = this_minute();
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let done: Vec<Minute> = counts.keys().copied().filter(|m| everything || *m < current).collect();
        let mut taken = Vec::new();
        for minute in done {
            for (principal, by_connection) in counts.remove(&minute).unwrap_or_default() {
                for (connection, n) in by_connection {
                    taken.push(((principal.clone(), connection, minute), n));
                }
            }
        }
        taken
    }

    /// Puts back what could not be written.
    fn restore(&self, buckets: Vec<(Bucket, u64)>) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
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
