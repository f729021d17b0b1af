//! What the broker remembers about the database's health, so that callers holding a copy in
//! memory stop waiting on a database that just failed to answer.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::StoreError;

/// How long a failed database answer is remembered.
const UNREACHABLE_MEMORY_MS: i64 = 3_000;
/// How long a re-check of a cached entry may take before the cached entry is used.
const RECHECK_DEADLINE: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Health {
    /// When the database last failed to answer (ms since the epoch; 0: never).
    unreachable_at: AtomicI64,
}

impl Health {
    pub fn note_unreachable(&self) {
        self.unreachable_at.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// True within a few seconds of the last failure. During a partition every read would
    /// otherwise wait out the pool's acquire timeout before falling back to memory.
    pub fn recently_unreachable(&self) -> bool {
        let at = self.unreachable_at.load(Ordering::Relaxed);
        at != 0 && chrono::Utc::now().timestamp_millis() - at < UNREACHABLE_MEMORY_MS
    }

    /// Runs a read that only re-checks something already held in memory: answers within
    /// `RECHECK_DEADLINE`, or as unreachable (which the caller answers from memory).
    pub async fn recheck<T>(&self, read: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        if self.recently_unreachable() {
            return Err(StoreError::timed_out());
        }
        let result = match tokio::time::timeout(RECHECK_DEADLINE, read).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::timed_out()),
        };
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.note_unreachable();
        }
        result
    }
}
