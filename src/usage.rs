//! Which tokens were handed out, tallied per principal, connection and minute. The hot path
//! only bumps a counter in memory (one lock, no I/O). Off the hot path the tally feeds:
//! - the audit trail: a background task writes each finished minute as one `token.issue`
//!   event (`detail: {count, minute}`), and everything left on shutdown;
//! - refresh-ahead: the connections still in the tally (used within about the last minute)
//!   have their `last_used_at` written by each refresh-ahead pass.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::json;
use tokio::sync::watch;

use crate::domain::AuditEvent;
use crate::ids::{ConnectionId, PrincipalId};
use crate::store::Store;

type Bucket = (PrincipalId, ConnectionId, DateTime<Utc>);

#[derive(Default)]
pub struct Usage(Mutex<HashMap<Bucket, u64>>);

const FLUSH_EVERY: Duration = Duration::from_secs(15);

impl Usage {
    pub fn record(&self, principal: &PrincipalId, connection: &ConnectionId) {
        let minute = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap_or_else(|_| Utc::now());
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((principal.clone(), connection.clone(), minute)).or_default() += 1;
    }

    /// Connections that handed out a token within about the last minute.
    pub fn recent_connections(&self) -> Vec<String> {
        let counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let ids: HashSet<&str> = counts.keys().map(|(_, connection, _)| connection.as_str()).collect();
        ids.into_iter().map(str::to_owned).collect()
    }

    /// Takes the buckets of minutes that have ended (all of them when `everything`).
    fn take(&self, everything: bool) -> Vec<(Bucket, u64)> {
        let current = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap_or_else(|_| Utc::now());
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let done: Vec<Bucket> = counts.keys().filter(|(_, _, m)| everything || *m < current).cloned().collect();
        done.into_iter().filter_map(|b| counts.remove(&b).map(|n| (b, n))).collect()
    }

    async fn flush(&self, store: &Store, everything: bool) {
        let buckets = self.take(everything);
        if buckets.is_empty() {
            return;
        }
        let events: Vec<AuditEvent> = buckets
            .iter()
            .map(|((principal, connection, minute), count)| {
                AuditEvent::success(Some(principal), "token.issue", json!({"count": count, "minute": minute}))
                    .on_connection(connection.as_str())
            })
            .collect();
        if let Err(err) = store.record_audit_batch(&events).await {
            tracing::warn!(error = %err, "could not record token hand-outs; keeping them for the next try");
            let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
            for (bucket, n) in buckets {
                *counts.entry(bucket).or_default() += n;
            }
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
