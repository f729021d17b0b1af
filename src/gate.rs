//! One async turn at a time per key (a connection id), without a lock per key kept forever:
//! waiters queue on an async mutex that exists only while someone holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// A held turn; the next waiter goes when it drops.
pub type Turn = OwnedMutexGuard<()>;

#[derive(Default)]
pub struct Gates {
    gates: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl Gates {
    fn gate(&self, key: &str) -> Arc<AsyncMutex<()>> {
        // A poisoned map only means another thread panicked mid-insert; the map is still usable.
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        match gates.get(key).and_then(Weak::upgrade) {
            Some(gate) => gate,
            None => {
                // Forget gates nobody holds any more, so the map stays as small as the busy set.
                gates.retain(|_, g| g.strong_count() > 0);
                let gate = Arc::new(AsyncMutex::new(()));
                gates.insert(key.to_owned(), Arc::downgrade(&gate));
                gate
            }
        }
    }

    /// Waits for `key`'s turn.
    pub async fn enter(&self, key: &str) -> Turn {
        self.gate(key).lock_owned().await
    }

    /// Waits at most `wait` for `key`'s turn.
    pub async fn enter_within(&self, key: &str, wait: Duration) -> Option<Turn> {
        tokio::time::timeout(wait, self.enter(key)).await.ok()
    }

    /// `key`'s turn if nobody has it now.
    pub fn try_enter(&self, key: &str) -> Option<Turn> {
        self.gate(key).try_lock_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_at_a_time_per_key() {
        let gates = Arc::new(Gates::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (gates, inside) = (gates.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = gates.enter("a").await;
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                tokio::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Other keys are not blocked by a held gate; a held key is not entered.
        let _a = gates.enter("a").await;
        assert!(gates.try_enter("a").is_none());
        assert!(gates.enter_within("a", Duration::from_millis(20)).await.is_none());
        let _b = tokio::time::timeout(Duration::from_secs(1), gates.enter("b")).await.unwrap();
    }
}
