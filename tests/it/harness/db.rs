//! A fresh PostgreSQL database per test, so tests never see each other's rows and can run in
//! parallel. With `DATABASE_URL` set, a new database is created on that server; otherwise a
//! throw-away container is started. There is no silent skip: without either, the test fails
//! and says how to provide one.

use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use testcontainers::ContainerAsync;
use testcontainers::runners::AsyncRunner as _;
use testcontainers_modules::postgres::Postgres;
use url::Url;

use super::random;

const HOW_TO: &str = "the integration tests need PostgreSQL: set \
     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres or run a Docker engine";

pub struct TestDb {
    /// The URL of this test's own database, to hand to the broker.
    pub url: String,
    /// Set when the database lives on a shared server and must be dropped afterwards.
    shared_server: Option<(String, String)>,
    _container: Option<ContainerAsync<Postgres>>,
}

impl TestDb {
    pub async fn create() -> TestDb {
        match std::env::var("DATABASE_URL") {
            Ok(server_url) if !server_url.trim().is_empty() => Self::on_server(&server_url).await,
            _ => Self::in_container().await,
        }
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
        TestDb { url: url.to_string(), shared_server: Some((server_url.to_owned(), name)), _container: None }
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
            shared_server: None,
            _container: Some(container),
        }
    }

    /// A small pool on this test's database, for setup the API cannot do and for inspection.
    pub async fn pool(&self) -> PgPool {
        connect(&self.url).await.unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"))
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
