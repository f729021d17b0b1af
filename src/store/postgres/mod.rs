//! The PostgreSQL backend: many replicas share one database; the row lock is the lease and
//! `LISTEN/NOTIFY` tells every replica what changed.

mod audit;
mod connections;
mod notify;
mod principals;
mod snapshot;

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Transaction};

pub use connections::PgLease;
pub use notify::PgSubscription;

use super::StoreError;
use crate::domain::AuditEvent;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The listener's connection plus two for in-doubt markers (each held for one INSERT).
const SIDE_CONNECTIONS: u32 = 3;

/// Connections the pool keeps open (made while the start-up check makes its own, and made
/// again when idle ones are closed): a key check and a connection row's re-check run side by
/// side in the background of the hot path, and sqlx pings each connection on its release, so
/// one query holds its connection for two round trips. Were the pool to open a connection
/// for one of them on a slow or distant link, the set-up (TCP, TLS, start-up: several round
/// trips) could outlast the check's deadline and turn a valid key away as unverifiable.
const WARM_CONNECTIONS: u32 = 3;

/// A pooled connection idle for longer than this is pinged before it is handed out; one used
/// more recently is taken as it is. sqlx's default pings at every hand-out: a round trip to
/// the database added to every query, which is what a request waiting for a key check (or a
/// refresh waiting for its lease) pays for on a distant or slow link. A connection broken
/// since its last use (the server restarted) fails that one query as unavailable.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// How long a caller waits for a pooled database connection before the request fails fast.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PgStore {
    /// For the start-up check, which connects outside the pools.
    options: std::sync::Arc<PgConnectOptions>,
    pool: PgPool,
    /// A few connections apart from `pool`: the change listener, and the in-doubt markers a
    /// refresh writes while it holds a `pool` connection for its row lock. Were they taken
    /// from `pool`, enough concurrent refreshes could wait on connections they hold themselves.
    side: PgPool,
    location: String,
    /// The start-up check's connection, until the migrations use it.
    checked: std::sync::Arc<std::sync::Mutex<Option<sqlx::PgConnection>>>,
}

fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

impl PgStore {
    pub fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions =
            url.parse().map_err(|_| StoreError::Url("not a valid postgres:// URL".into()))?;
        let location = format!(
            "PostgreSQL database {:?} on {}:{} as user {:?}",
            options.get_database().unwrap_or("(default)"),
            options.get_host(),
            options.get_port(),
            options.get_username()
        );
        // Notices (`relation "_sqlx_migrations" already exists, skipping`) are not news.
        let options = options.application_name("tokenbroker").options([("client_min_messages", "warning")]);
        let max_connections = max_connections.max(2);
        let pool = pool_options(max_connections)
            .min_connections(WARM_CONNECTIONS.min(max_connections))
            .connect_lazy_with(options.clone());
        let side = pool_options(SIDE_CONNECTIONS).connect_lazy_with(options.clone());
        Ok(Self { options: std::sync::Arc::new(options.clone()), pool, side, location, checked: Default::default() })
    }

    pub fn location(&self) -> String {
        self.location.clone()
    }

    /// One connection of its own, not from the pool: a pool that cannot connect only says it
    /// timed out, while the connection's own error says refused, unknown database, bad password.
    pub async fn check_connection(&self) -> Result<(), StoreError> {
        use sqlx::Connection as _;
        // Meanwhile the pool makes its warm connections, which the start-up path takes after
        // the migrations (keys, the bootstrap admin): set-ups in a row, each a TLS handshake
        // where the server offers one, were half of the time to ready (BENCHMARKS.md). Each is
        // held until all are made, so that none is made twice.
        let warm = self.pool.options().get_min_connections() as usize;
        let made = std::sync::Arc::new(tokio::sync::Barrier::new(warm));
        for _ in 0..warm {
            let (pool, made) = (self.pool.clone(), made.clone());
            tokio::spawn(async move {
                let conn = pool.acquire().await;
                made.wait().await;
                drop(conn);
            });
        }
        let connect = sqlx::PgConnection::connect_with(&self.options);
        match tokio::time::timeout(ACQUIRE_TIMEOUT, connect).await {
            Ok(Ok(conn)) => {
                // Kept for the migrations, which come next: the pool may still be connecting.
                *self.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
                Ok(())
            }
            Ok(Err(err)) => Err(StoreError::Connect(explain(&self.options, &self.location, &err))),
            Err(_) => Err(StoreError::Connect(format!(
                "{}: timed out after {} s connecting; is the address right and the server up?",
                self.location,
                ACQUIRE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Applies the migrations this binary has and the database lacks. Migrations a newer
    /// release applied are not an error: during a rolling upgrade (or a rollback) older replicas
    /// restart on the newer schema, which is why migrations only ever add (README, Upgrades).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        use sqlx::Connection as _;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_ignore_missing(true);
        let checked = self.checked.lock().unwrap_or_else(|p| p.into_inner()).take();
        let result = match checked {
            Some(mut conn) => {
                let result = migrator.run(&mut conn).await;
                let _ = conn.close().await;
                result
            }
            None => migrator.run(&self.pool).await,
        };
        result.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Migration(other.to_string()),
        })
    }

    pub async fn ready(&self) -> Result<bool, StoreError> {
        let applied: Vec<i64> = sqlx::query_scalar("select version from _sqlx_migrations where success")
            .fetch_all(&self.pool)
            .await
            .or_else(|err| match &err {
                // The migrations table does not exist yet: reachable, not migrated.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(Vec::new()),
                _ => Err(err),
            })?;
        Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
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
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if statement.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::NotFound(what));
        }
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A duration as a Postgres interval literal (bound as text and cast in the query).
fn interval(d: Duration) -> String {
    format!("{} milliseconds", d.as_millis())
}

/// A connection failure in words that say what to do about it.
fn explain(options: &PgConnectOptions, location: &str, err: &sqlx::Error) -> String {
    let database = options.get_database().unwrap_or("postgres");
    let user = options.get_username();
    let (host, port) = (options.get_host(), options.get_port());
    match err {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("{location}: connection refused; is PostgreSQL running and listening on {host}:{port}?")
        }
        sqlx::Error::Io(io) => format!("{location}: cannot connect ({io})"),
        sqlx::Error::Tls(tls) => format!("{location}: TLS failed ({tls}); check sslmode and the server's certificate"),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("3D000") => format!(
                "{location}: the database does not exist; create it with `createdb -h {host} -p {port} -U {user} {database}`"
            ),
            Some("28P01") => format!("{location}: password authentication failed for user {user:?}"),
            Some("28000") => format!(
                "{location}: the server refused user {user:?} (no such role, or pg_hba.conf does not allow this                  connection): {}",
                db.message()
            ),
            _ => format!("{location}: {}", db.message()),
        },
        other => format!("{location}: {other}"),
    }
}
