//! Common starting points: a broker with one qubs connection to a fake QUBS; several replicas
//! with a service key allowed every connection.

use crate::fakes::FakeQubs;

use super::app::{TestApp, spawn_app, spawn_app_with};

pub async fn app_with_qubs(connection_id: &str) -> (TestApp, FakeQubs) {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection(connection_id)).await;
    (app, qubs)
}

/// `replicas` broker processes on one database with `settings`, and a service principal's API
/// key granted `*`.
pub async fn replicas_with_service(replicas: usize, settings: &[(&str, &str)]) -> (TestApp, String) {
    let mut app = spawn_app_with(|env| {
        // Pushed last, so they override the harness defaults (e.g. the vendor timeout).
        env.extra.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    })
    .await;
    for _ in 1..replicas {
        app.add_replica().await;
    }
    let svc = app.service(&["*"]).await;
    let key = svc.key().expect("service key").to_owned();
    (app, key)
}
