//! In-process collapsing of concurrent refreshes of one connection: waiters queue on a
//! per-connection async mutex instead of each holding a database connection while the
//! row lock is held by someone else. Across processes the row lock does the same job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct Flights {
    gates: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl Flights {
    /// Waits for this process's turn to refresh `id`; the turn ends when the guard drops.
    pub async fn enter(&self, id: &str) -> OwnedMutexGuard<()> {
        let gate = {
            // A poisoned map only means another thread panicked mid-insert; the map is still usable.
            let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
            match gates.get(id).and_then(Weak::upgrade) {
                Some(gate) => gate,
                None => {
                    // Forget gates nobody holds any more, so the map stays as small as the busy set.
                    gates.retain(|_, g| g.strong_count() > 0);
                    let gate = Arc::new(AsyncMutex::new(()));
                    gates.insert(id.to_owned(), Arc::downgrade(&gate));
                    gate
                }
            }
        };
        gate.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_at_a_time_per_connection() {
        let flights = Arc::new(Flights::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (flights, inside) = (flights.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = flights.enter("a").await;
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Other connections are not blocked by a held gate.
        let _a = flights.enter("a").await;
        let _b = tokio::time::timeout(std::time::Duration::from_secs(1), flights.enter("b")).await.unwrap();
    }
}
