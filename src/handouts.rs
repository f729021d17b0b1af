//! Token hand-outs in the audit trail, aggregated per principal, connection and minute: the hot
//! path only bumps a counter in memory; a background task writes finished minutes as one
//! `token.issue` event each (`detail: {count, minute}`), and everything left on shutdown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::json;
use tokio::sync::watch;

use crate::ids::{ConnectionId, PrincipalId};
use crate::store::{AuditEvent, Store};

type Bucket = (PrincipalId, ConnectionId, DateTime<Utc>);

#[derive(Default)]
pub struct Handouts(Mutex<HashMap<Bucket, u64>>);

const FLUSH_EVERY: Duration = Duration::from_secs(15);

impl Handouts {
    pub fn record(&self, principal: &PrincipalId, connection: &ConnectionId) {
        let minute = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap_or_else(|_| Utc::now());
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((principal.clone(), connection.clone(), minute)).or_default() += 1;
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

pub async fn run(handouts: std::sync::Arc<Handouts>, store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => handouts.flush(&store, false).await,
            _ = stop.changed() => break,
        }
    }
    handouts.flush(&store, true).await;
}
