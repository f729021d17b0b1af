//! Storage: the only module that knows SQL. Handlers and the refresh engine see records and
//! operations, never sqlx, so an embedded backend can be added behind the same surface.
//!
//! The refresh lock is one of the operations: [`Store::lock_connection`] returns the row held
//! with `SELECT … FOR UPDATE` inside a transaction; whatever is written through it commits
//! together, or not at all.

mod audit;
mod connections;
mod notify;
mod principals;
mod stats;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Transaction};
use thiserror::Error;

pub use audit::{AuditEvent, AuditFilter, AuditRecord};
pub use connections::{
    ConnectionChange, ConnectionRecord, ConnectionStatus, Failure as RecordedFailure, LastError, LockedConnection,
    NewConnection, REFRESH_TOKEN, TokenMeta,
};
pub use notify::{Change, Subscription};
pub use principals::{Authenticated, GrantChange, KeyRecord, PrincipalRecord, Role};
pub use stats::ConnectionGauge;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    #[error("the database is unreachable")]
    Unavailable(#[source] sqlx::Error),
    #[error("timed out waiting for the connection's refresh lock")]
    LockTimeout(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            // Cannot reach or keep talking to the server. A protocol error is what a peer that
            // hangs up mid-handshake looks like, so it counts as unreachable too.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // lock_not_available: `lock_timeout` expired while another refresh held the row.
                Some("55P03") => StoreError::LockTimeout(err),
                // 08: connection exceptions; 53: insufficient resources (too many connections);
                // 57P01-03: the server is shutting down or starting.
                Some(code) if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") => {
                    StoreError::Unavailable(err)
                }
                _ => StoreError::Database(err),
            },
            _ => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// The database did not answer in time.
    pub fn timed_out() -> Self {
        StoreError::Unavailable(sqlx::Error::PoolTimedOut)
    }
}

/// Turns a unique violation into `AlreadyExists(what)`, in one place rather than per query.
pub(crate) trait OnConflict<T> {
    fn on_conflict(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> OnConflict<T> for Result<T, sqlx::Error> {
    fn on_conflict(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyExists(what),
            _ => StoreError::from(err),
        })
    }
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// A few connections apart from `pool`: the change listener, and the in-doubt markers a
    /// refresh writes while it holds a `pool` connection for its row lock. Were they taken
    /// from `pool`, enough concurrent refreshes could wait on connections they hold themselves.
    side: PgPool,
    /// When the database last failed to answer (ms since the epoch; 0: never).
    unreachable_at: Arc<AtomicI64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// The listener's connection plus two for in-doubt markers (each held for one INSERT).
const SIDE_CONNECTIONS: u32 = 3;

/// How long a failed database answer is remembered (see `recently_unreachable`).
const UNREACHABLE_MEMORY_MS: i64 = 3_000;
/// How long a re-check of a cached entry may take before the cached entry is used.
const RECHECK_DEADLINE: Duration = Duration::from_secs(1);

/// How long a caller waits for a pooled database connection before the request fails fast.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Connects lazily: the process starts (and `/readyz` reports) even while the database is down.
    pub fn connect(url: &SecretString, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .expose_secret()
            .parse()
            .map_err(|_| StoreError::Corrupt("DATABASE_URL is not a valid postgres:// URL".into()))?;
        let options = options.application_name("tokenbroker");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone());
        let side = PgPoolOptions::new()
            .max_connections(SIDE_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { pool, side, unreachable_at: Arc::new(AtomicI64::new(0)) })
    }

    /// Remembers that the database just failed to answer (unreachable or too slow), so that
    /// callers holding a cached copy stop waiting on it for a while.
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

    /// Applies the migrations this binary has and the database lacks. Migrations a newer
    /// release applied are not an error: during a rolling upgrade (or a rollback) older replicas
    /// restart on the newer schema, which is why migrations only ever add (README, Upgrades).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Corrupt(format!("migrations: {other}")),
        })
    }

    /// Ready: the database answers and every migration this binary knows has been applied.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        let applied: i64 =
            sqlx::query_scalar("select count(*) from _sqlx_migrations where success and version = any($1)")
                .bind(MIGRATOR.iter().map(|m| m.version).collect::<Vec<i64>>())
                .fetch_one(&self.pool)
                .await
                .or_else(|err| match &err {
                    // The migrations table does not exist yet: reachable, not migrated.
                    sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(0),
                    _ => Err(err),
                })?;
        Ok(usize::try_from(applied).unwrap_or(0) == MIGRATOR.iter().count())
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Runs a statement that must change one row (else `NotFound(what)`), with its audit event,
    /// in one transaction.
    async fn change_one(
        &self,
        statement: Query<'_, Postgres, PgArguments>,
        what: &'static str,
        audit_event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if statement.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound(what));
        }
        audit::record(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }
}
