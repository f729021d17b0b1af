//! The most common starting point: a broker with one qubs connection to a fake QUBS.

use crate::fakes::FakeQubs;

use super::app::{TestApp, spawn_app};

pub async fn app_with_qubs(connection_id: &str) -> (TestApp, FakeQubs) {
    let app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection(connection_id)).await;
    (app, qubs)
}
