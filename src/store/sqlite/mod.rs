//! The embedded backend: one SQLite file, owned by one process (the file is locked while it
//! is open, so a second broker on it is refused at start). WAL mode so reads never wait for
//! the writer, `synchronous = FULL` so a commit (an in-doubt marker above all) survives a power
//! cut, foreign keys on, and a single writer connection, so writes queue in-process instead of
//! meeting `SQLITE_BUSY`.

mod audit;
mod connections;
mod principals;
mod snapshot;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

pub use connections::SqliteLease;

use super::StoreError;
use crate::gate::Gates;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a caller waits for the writer or a reader before the request fails fast.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SqliteStore {
    /// The one connection that writes.
    writer: SqlitePool,
    readers: SqlitePool,
    path: Arc<PathBuf>,
    /// The lease on each connection: with one process, an in-process gate is the whole lock.
    leases: Arc<Gates>,
    /// Held open, and locked, for as long as the store lives.
    _owner: Arc<File>,
}

impl SqliteStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite://") || url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Url(
                "an embedded database is a file: sqlite://PATH (an in-memory one would lose every secret on exit)"
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Url(format!("not a usable sqlite:// URL ({e})")))?;
        let path = options.get_filename().to_path_buf();
        let owner = lock_file(&path)?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(ACQUIRE_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(max_connections.clamp(1, 8))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Self { writer, readers, path: Arc::new(path), leases: Arc::new(Gates::default()), _owner: Arc::new(owner) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn location(&self) -> String {
        format!("SQLite file {}", self.path.display())
    }

    pub async fn check_connection(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.readers).await?;
        Ok(())
    }

    /// Applies the migrations this binary has and the database lacks. Migrations a newer
    /// release applied are not an error: during a rolling upgrade (or a rollback) older replicas
    /// restart on the newer schema, which is why migrations only ever add (README, Upgrades).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&self.writer).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Migration(other.to_string()),
        })
    }

    pub async fn ready(&self) -> Result<bool, StoreError> {
        let exists: bool = sqlx::query_scalar(
            "select exists(select 1 from sqlite_master where type = 'table' and name = '_sqlx_migrations')",
        )
        .fetch_one(&self.readers)
        .await?;
        if !exists {
            return Ok(false);
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("select version from _sqlx_migrations where success").fetch_all(&self.readers).await?;
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
    }

    /// A write transaction that holds SQLite's write lock from its first statement.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Creates the file if needed (readable by its owner only: it holds sealed secrets) and takes
/// an exclusive advisory lock on it for the life of the process.
fn lock_file(path: &Path) -> Result<File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Url(format!("cannot create the directory {} ({e})", dir.display())))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::Url(format!("cannot open {} ({e})", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(format!(
            "{} is in use by another tokenbroker process. The embedded database serves one process; \
             to run several replicas, move to PostgreSQL (`tokenbroker copy --to postgres://…`, then \
             DATABASE_URL=postgres://… on every replica)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Url(format!("cannot lock {} ({e})", path.display()))),
    }
}

/// Times are stored as milliseconds since the epoch.
fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn time(table: &'static str, column: &'static str, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| StoreError::invalid(table, column, "not a time"))
}

fn opt_time(table: &'static str, column: &'static str, ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| time(table, column, ms)).transpose()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
