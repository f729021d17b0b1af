//! Common starting points: a broker with one qubs connection to a fake QUBS; several replicas
//! with a service key allowed every connection.

use crate::fakes::FakeQubs;

use super::app::{TestApp, spawn_app, spawn_app_on};
use super::broker::BrokerEnv;
use super::db::Backend;

/// A per-principal limit no test loop reaches. The burst is large too: GCRA's tolerance is
/// burst / rate, and a request whose thread was descheduled for longer than that between
/// reading the clock and taking its turn would look early.
pub const UNLIMITED: [(&str, &str); 2] =
    [("TOKENBROKER_RATE_LIMIT_PER_SECOND", "1000000"), ("TOKENBROKER_RATE_LIMIT_BURST", "1000000")];

pub async fn app_with_qubs(connection_id: &str) -> (TestApp, FakeQubs) {
    with_qubs(spawn_app().await, connection_id).await
}

/// Like `app_with_qubs`, on PostgreSQL, for tests that add replicas.
pub async fn replicated_app_with_qubs(connection_id: &str) -> (TestApp, FakeQubs) {
    with_qubs(spawn_app_on(Backend::Postgres, |_| {}).await, connection_id).await
}

async fn with_qubs(app: TestApp, connection_id: &str) -> (TestApp, FakeQubs) {
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection(connection_id)).await;
    (app, qubs)
}

/// `replicas` broker processes on one database with `settings`, and a service principal's API
/// key granted `*`. One process runs on the suite's backend; several share PostgreSQL.
pub async fn replicas_with_service(replicas: usize, settings: &[(&str, &str)]) -> (TestApp, String) {
    let backend = if replicas > 1 { Backend::Postgres } else { Backend::of_suite() };
    replicas_with_service_on(backend, replicas, settings).await
}

pub async fn replicas_with_service_on(
    backend: Backend,
    replicas: usize,
    settings: &[(&str, &str)],
) -> (TestApp, String) {
    let configure = |env: &mut BrokerEnv| {
        // These rigs' callers loop back to back, far past any one service's fair rate: the
        // per-principal limit is raised (still checked) so they see the refresh machinery, not
        // 429s. Rate limits have tests of their own (auth/rate_limits.rs).
        env.extra.extend(UNLIMITED.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        // Pushed last, so they override the harness defaults (e.g. the vendor timeout).
        env.extra.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    };
    let mut app = spawn_app_on(backend, configure).await;
    for _ in 1..replicas {
        app.add_replica().await;
    }
    let svc = app.service(&["*"]).await;
    let key = svc.key().expect("service key").to_owned();
    (app, key)
}
