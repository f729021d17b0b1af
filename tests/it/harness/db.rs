//! A fresh database per test, so tests never see each other's rows and can run in parallel.
//!
//! The end-to-end suite runs on the backend `TOKENBROKER_TEST_BACKEND` names: `sqlite` (the
//! default, like the broker's) or `postgres`; CI runs it on both. Tests that need PostgreSQL
//! itself (several replicas, a database behind a proxy, foreign row locks) ask for it.
//!
//! PostgreSQL: with `DATABASE_URL` set, a new database is created on that server; otherwise a
//! throw-away container is started. There is no silent skip: without either, the test fails
//! and says how to provide one. SQLite: a file in a directory of the test's own.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use testcontainers::ContainerAsync;
use testcontainers::runners::AsyncRunner as _;
use testcontainers_modules::postgres::Postgres;
use url::Url;

use super::random;

const HOW_TO: &str = "the integration tests need PostgreSQL: set \
     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres or run a Docker engine";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend the end-to-end suite runs on.
    pub fn of_suite() -> Backend {
        match std::env::var("TOKENBROKER_TEST_BACKEND").as_deref().map(str::trim) {
            Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
            Ok("postgres") => Backend::Postgres,
            Ok(other) => panic!("TOKENBROKER_TEST_BACKEND={other:?}: use sqlite or postgres"),
        }
    }
}

pub struct TestDb {
    /// The URL of this test's own database, to hand to the broker.
    pub url: String,
    pub backend: Backend,
    /// Set when the database lives on a shared server and must be dropped afterwards.
    shared_server: Option<(String, String)>,
    _container: Option<ContainerAsync<Postgres>>,
    /// The SQLite database's directory, removed afterwards.
    dir: Option<PathBuf>,
}

impl TestDb {
    /// A database on the suite's backend.
    pub async fn create() -> TestDb {
        Self::on(Backend::of_suite()).await
    }

    pub async fn on(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn postgres() -> TestDb {
        match std::env::var("DATABASE_URL") {
            Ok(server_url) if !server_url.trim().is_empty() => Self::on_server(&server_url).await,
            _ => Self::in_container().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!("tbtest-{}", random::hex(8)));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let url = format!("sqlite://{}", dir.join("tokenbroker.db").display());
        TestDb { url, backend: Backend::Sqlite, shared_server: None, _container: None, dir: Some(dir) }
    }

    /// The SQLite database's file, for tests that look at it from outside.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("tokenbroker.db"))
    }

    async fn on_server(server_url: &str) -> TestDb {
        let admin = connect(server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL ({}): {e}; {HOW_TO}", redact(server_url)));
        let name = format!("tbtest_{}", random::hex(8));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        admin.close().await;

        let mut url = Url::parse(server_url).unwrap_or_else(|e| panic!("DATABASE_URL is not a URL ({e}); {HOW_TO}"));
        url.set_path(&format!("/{name}"));
        TestDb {
            url: url.to_string(),
            backend: Backend::Postgres,
            shared_server: Some((server_url.to_owned(), name)),
            _container: None,
            dir: None,
        }
    }

    async fn in_container() -> TestDb {
        let container = Postgres::default()
            .with_host_auth()
            .start()
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL is not set and Docker failed ({e}); {HOW_TO}"));
        let host = container.get_host().await.expect("container host");
        let port = container.get_host_port_ipv4(5432).await.expect("container port");
        TestDb {
            url: format!("postgres://postgres@{host}:{port}/postgres"),
            backend: Backend::Postgres,
            shared_server: None,
            _container: Some(container),
            dir: None,
        }
    }

    /// A connection to this test's database, for what the API cannot do: inspection, and
    /// tampering as someone with database access but no master key would.
    pub async fn handle(&self) -> DbHandle {
        match self.backend {
            Backend::Postgres => DbHandle::Postgres(
                connect(&self.url).await.unwrap_or_else(|e| panic!("cannot connect to the test database: {e}")),
            ),
            Backend::Sqlite => {
                let options: SqliteConnectOptions = self.url.parse().expect("sqlite url");
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.busy_timeout(Duration::from_secs(10)))
                    .await
                    .unwrap_or_else(|e| panic!("cannot open the test database {}: {e}", self.url));
                DbHandle::Sqlite(pool)
            }
        }
    }

    /// The PostgreSQL pool, for tests that only make sense there (foreign row locks).
    pub async fn pg_pool(&self) -> PgPool {
        match self.handle().await {
            DbHandle::Postgres(pool) => pool,
            DbHandle::Sqlite(_) => panic!("this test needs PostgreSQL (TestDb::postgres)"),
        }
    }
}

/// A connection to a test database of either backend.
pub enum DbHandle {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl DbHandle {
    /// Runs `sql` with text parameters and returns the rows it changed.
    pub async fn execute(&self, sql: &str, params: &[&str]) -> u64 {
        let result = match self {
            DbHandle::Postgres(pool) => {
                let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for p in params {
                    query = query.bind(*p);
                }
                query.execute(pool).await.map(|r| r.rows_affected())
            }
            DbHandle::Sqlite(pool) => {
                let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for p in params {
                    query = query.bind(*p);
                }
                query.execute(pool).await.map(|r| r.rows_affected())
            }
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(10)).connect(url).await
}

/// A URL fit for a failure message: the password, if any, replaced.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable>".to_owned(),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        // Best effort, so that the shared server does not fill up with test databases. Drop
        // cannot be async and may run inside the test's runtime, hence a thread of its own.
        let Some((server_url, name)) = self.shared_server.take() else {
            return;
        };
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(pool) = connect(&server_url).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}
