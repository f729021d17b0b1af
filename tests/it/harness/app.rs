//! `spawn_app()`: a database of its own (on the suite's backend), one broker process on it and
//! an admin client. `spawn_app_on(Backend::Postgres, …)` puts it on PostgreSQL, where more
//! processes can share the database and keys, as replicas do. Dropping it stops the processes before the
//! database goes.

use super::broker::{Broker, BrokerEnv};
use super::client::{TestClient, Transcript};
use super::db::{Backend, DbHandle, TestDb};
use super::logs::LogLine;
use super::logs::Logs;
use super::random;

pub struct TestApp {
    // Field order is drop order: processes first, the database last.
    brokers: Vec<Broker>,
    pub admin: TestClient,
    pub env: BrokerEnv,
    logs: Vec<Logs>,
    transcript: Transcript,
    pub db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, after `configure` adjusted the broker's environment.
pub async fn spawn_app_with(configure: impl FnOnce(&mut BrokerEnv)) -> TestApp {
    spawn_app_on(Backend::of_suite(), configure).await
}

pub async fn spawn_app_on(backend: Backend, configure: impl FnOnce(&mut BrokerEnv)) -> TestApp {
    let db = TestDb::on(backend).await;
    let mut env = BrokerEnv::new(&db.url);
    configure(&mut env);
    let broker = Broker::start(&env).await;
    let transcript = Transcript::default();
    let admin = TestClient::new(&broker.base_url(), env.bootstrap_admin_key.as_deref(), transcript.clone());
    TestApp { logs: vec![broker.logs()], brokers: vec![broker], admin, env, transcript, db }
}

impl TestApp {
    /// Starts another `serve` process on the same database with the same keys; returns its
    /// index for `broker`/`admin_on`.
    pub async fn add_replica(&mut self) -> usize {
        let env = self.env.clone();
        self.add_replica_with(&env).await
    }

    /// Starts a process on the same database with another environment (other master keys,
    /// say); returns its index. On SQLite only once the others have stopped: the embedded
    /// database serves one process.
    pub async fn add_replica_with(&mut self, env: &BrokerEnv) -> usize {
        if self.db.backend == Backend::Sqlite {
            assert!(
                self.brokers.iter_mut().all(|b| b.has_exited()),
                "a second process on an embedded (SQLite) database is refused: start this test's app with \
                 spawn_replicated_app_with for replicas"
            );
        }
        let broker = Broker::start(env).await;
        self.logs.push(broker.logs());
        self.brokers.push(broker);
        self.brokers.len() - 1
    }

    /// A broker process with nothing in memory: another replica on PostgreSQL; on SQLite, where
    /// one process owns the file, a restart (the others are stopped first). Returns its index.
    pub async fn fresh_process(&mut self) -> usize {
        if self.db.backend == Backend::Sqlite {
            for index in 0..self.brokers.len() {
                if !self.brokers[index].has_exited() {
                    self.stop(index).await;
                }
            }
        }
        self.add_replica().await
    }

    /// SIGTERM to replica `index`, and wait until it is gone.
    pub async fn stop(&mut self, index: usize) {
        let broker = &mut self.brokers[index];
        broker.sigterm();
        broker.wait_exit(std::time::Duration::from_secs(10)).await.expect("replica still running 10 s after SIGTERM");
    }

    pub fn broker(&self, index: usize) -> &Broker {
        &self.brokers[index]
    }

    pub fn broker_mut(&mut self, index: usize) -> &mut Broker {
        &mut self.brokers[index]
    }

    /// The admin client, talking to replica `index`.
    pub fn admin_on(&self, index: usize) -> TestClient {
        self.client_on(index, self.admin.key())
    }

    /// A client for replica `index` with `key` (or none).
    pub fn client_on(&self, index: usize, key: Option<&str>) -> TestClient {
        TestClient::new(&self.brokers[index].base_url(), key, self.transcript.clone())
    }

    /// A new service principal with one API key and `grants`; a client using that key.
    pub async fn service(&self, grants: &[&str]) -> TestClient {
        let id = random::id("svc");
        self.admin.create_principal(&id, "service").await;
        for pattern in grants {
            self.admin.put_grant(&id, pattern).await;
        }
        let key = self.admin.create_key(&id).await;
        self.admin.with_key(&key)
    }

    /// Every line every broker of this app printed, stopped ones included.
    pub fn log_lines(&self) -> Vec<LogLine> {
        self.logs.iter().flat_map(Logs::lines).collect()
    }

    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The database, as someone with access to it but not to the master keys.
    pub async fn db(&self) -> DbHandle {
        self.db.handle().await
    }

    pub async fn healthz(&self, index: usize) {
        self.client_on(index, None).get("/healthz", 200).await;
    }
}
