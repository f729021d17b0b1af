//! Refresh-ahead: a background task on every replica that refreshes the tokens of recently
//! used connections before they expire, so callers do not wait on a vendor, and rotates refresh
//! tokens that near their end (QBench: 7 days) even when nobody asks. Replicas divide the work
//! through the row lock: a row someone else holds is skipped (`FOR UPDATE SKIP LOCKED`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::TokenService;
use crate::usage::Usage;

#[derive(Debug, Clone, Copy)]
pub struct AheadSettings {
    /// Refresh when less than this is left (or half the token's lifetime, if shorter).
    pub lead: Duration,
    /// How often each replica looks for due connections.
    pub interval: Duration,
    /// Connections refreshed at once by one replica.
    pub concurrency: usize,
}

/// Only connections used within this window are kept warm.
const RECENTLY_USED: Duration = Duration::from_secs(15 * 60);
const BATCH: i64 = 100;

/// Runs until `stop` turns true; refreshes already started are finished first.
pub async fn run(
    tokens: Arc<TokenService>,
    usage: Arc<Usage>,
    settings: AheadSettings,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut running = JoinSet::new();
    loop {
        // Jitter keeps replicas from polling in lockstep.
        let pause = settings.interval.mul_f64(rand::rng().random_range(0.8..=1.2));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let used = usage.recent_connections();
        if !used.is_empty()
            && let Err(err) = tokens.store.touch_connections(&used, chrono::Utc::now()).await
        {
            tracing::warn!(error = %err, "could not record connection usage");
        }
        let due = match tokens.store.due_connections(settings.lead, tokens.rotate_lead(), RECENTLY_USED, BATCH).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "refresh-ahead could not list due connections");
                continue;
            }
        };
        for id in due {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let tokens = tokens.clone();
            running.spawn(async move {
                let _permit = permit;
                match tokens.refresh_ahead(&id, settings.lead).await {
                    Ok(true) => {
                        metrics::counter!("tokenbroker_refresh_ahead_total", "outcome" => "refreshed").increment(1);
                        tracing::info!(connection = %id, "refreshed ahead of expiry");
                    }
                    Ok(false) => {}
                    Err(err) => {
                        metrics::counter!("tokenbroker_refresh_ahead_total", "outcome" => "failed").increment(1);
                        tracing::warn!(connection = %id, error = %err, "refresh-ahead failed");
                    }
                }
            });
        }
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}
