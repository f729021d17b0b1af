//! Invalidation: keeps every replica's in-memory hot path coherent. Listens for the database's
//! change notifications (PostgreSQL; an embedded database has no other writer) and evicts what
//! changed. When the subscription drops and comes back, notifications may have been missed, so
//! everything is re-checked (tokens before their next use, API keys in the background at
//! theirs: a key stays trusted only within the TTL of its last check, so a database outage ends
//! its use after that, not at once). The
//! caches' TTL (≤ 5 s) bounds staleness even if this task is stuck.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::AuthCache;
use crate::store::{Change, Store};
use crate::tokens::TokenService;

pub async fn run(store: Store, tokens: Arc<TokenService>, auth: Arc<AuthCache>, mut stop: watch::Receiver<bool>) {
    let mut retry = Duration::from_millis(250);
    loop {
        let subscription = tokio::select! {
            s = store.subscribe() => s,
            _ = stop.changed() => return,
        };
        let mut subscription = match subscription {
            Ok(s) => s,
            Err(err) => {
                tracing::debug!(error = %err, "change notifications unavailable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(retry) => {}
                    _ = stop.changed() => return,
                }
                retry = (retry * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        retry = Duration::from_millis(250);
        // Whatever changed while we were not listening.
        tokens.revalidate_all();
        auth.revalidate_all();
        tracing::debug!("listening for change notifications");
        loop {
            let change = tokio::select! {
                c = subscription.next() => c,
                _ = stop.changed() => return,
            };
            match change {
                Ok(Change::Connection { id, generation }) => tokens.changed(&id, generation),
                Ok(Change::Auth) => auth.clear(),
                Ok(Change::Resync) => {
                    tokens.revalidate_all();
                    auth.revalidate_all();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "change notifications interrupted; cached entries are re-checked");
                    tokens.revalidate_all();
                    auth.revalidate_all();
                    break;
                }
            }
        }
    }
}
