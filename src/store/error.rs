//! What storage can fail with, said so each caller can act on it: a row that is not there or is
//! there already, a database that cannot be reached, a lock that was not had in time, or a
//! stored value this version cannot read. Both backends map their errors here.

use thiserror::Error;

use crate::domain::UnknownValue;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    #[error("the database is unreachable")]
    Unavailable(#[source] sqlx::Error),
    #[error("timed out waiting for the connection's refresh lock")]
    LockTimeout,
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored value this version cannot interpret.
    #[error("stored {table}.{column} cannot be read: {reason}")]
    InvalidRow { table: &'static str, column: &'static str, reason: String },
    #[error("migrations: {0}")]
    Migration(String),
    /// The database cannot be reached at start: what happened, in words that name the fix.
    #[error("{0}")]
    Connect(String),
    /// `DATABASE_URL` cannot be used as it is.
    #[error("DATABASE_URL: {0}")]
    Url(String),
    /// The embedded database file belongs to another process.
    #[error("{0}")]
    InUse(String),
    /// The last admin would be left without a successor.
    #[error("{0} is the last admin: create another admin first")]
    LastAdmin(String),
    /// A write through a lease found the row changed or gone under it (it cannot happen while
    /// every writer takes the lease; it means something outside the broker wrote the row), or
    /// the lease contract was broken (a marker after another write).
    #[error("the connection changed while it was leased")]
    LeaseLost,
    /// A copy's target already holds data.
    #[error("the target database is not empty ({0}); copy only into an empty database")]
    NotEmpty(String),
    /// The bootstrap admin key cannot be applied as asked.
    #[error("{0}")]
    Bootstrap(String),
}

impl StoreError {
    /// The database did not answer in time.
    pub fn timed_out() -> Self {
        StoreError::Unavailable(sqlx::Error::PoolTimedOut)
    }

    pub(crate) fn invalid(table: &'static str, column: &'static str, err: impl std::fmt::Display) -> Self {
        StoreError::InvalidRow { table, column, reason: err.to_string() }
    }

    pub(crate) fn unknown(table: &'static str, column: &'static str) -> impl FnOnce(UnknownValue) -> Self {
        move |err| StoreError::invalid(table, column, err)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        let unavailable = match &err {
            // Cannot reach or keep talking to the server. A protocol error is what a peer that
            // hangs up mid-handshake looks like, so it counts as unreachable too.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    match pg.code() {
                        // lock_not_available: `lock_timeout` expired while another refresh held the row.
                        "55P03" => return StoreError::LockTimeout,
                        // 08: connection exceptions; 53: insufficient resources (too many
                        // connections); 57P01-03: the server is shutting down or starting.
                        code => code.starts_with("08") || code.starts_with("53") || code.starts_with("57P"),
                    }
                } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // The primary result code is the low byte of the extended one: BUSY (5),
                    // LOCKED (6), READONLY (8), IOERR (10), CORRUPT (11), FULL (13), CANTOPEN (14).
                    let primary = db.code().and_then(|c| c.parse::<u32>().ok()).map(|c| c & 0xff);
                    matches!(primary, Some(5 | 6 | 8 | 10 | 11 | 13 | 14))
                } else {
                    false
                }
            }
            _ => false,
        };
        if unavailable { StoreError::Unavailable(err) } else { StoreError::Database(err) }
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
