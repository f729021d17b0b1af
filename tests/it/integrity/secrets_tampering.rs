//! Secrets moved between rows or altered: the broker refuses to use them, so no vendor ever
//! sees one connection's secret sent for another.

use crate::fakes::FakeQubs;
use crate::harness::db::Backend;
use crate::harness::{TestApp, assert_problem, spawn_app};

use super::{Column, flip_last_byte, swap};

async fn assert_integrity_failure(app: &TestApp, replica: usize, id: &str) {
    let resp = app.admin_on(replica).token_resp(id, None).await;
    let problem = assert_problem(&resp, 500, "internal");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.contains("aead") && !detail.contains("decrypt") && !detail.contains("sqlx"),
        "a 500's detail should not describe internals: {problem}"
    );
}

#[tokio::test]
async fn swapped_secrets_fail_closed() {
    let mut app = spawn_app().await;
    let (qubs_a, qubs_b) = (FakeQubs::start().await, FakeQubs::start().await);
    app.admin.create_connection(&qubs_a.connection("qubs-a")).await;
    app.admin.create_connection(&qubs_b.connection("qubs-b")).await;

    swap(&app.db().await, Column::Secrets, "qubs-a", "qubs-b").await;
    // A process started after the tampering has nothing in memory to fall back on.
    let fresh = app.fresh_process().await;
    assert_integrity_failure(&app, fresh, "qubs-a").await;
    assert_integrity_failure(&app, fresh, "qubs-b").await;
    assert_eq!(
        (qubs_a.calls(), qubs_b.calls()),
        (0, 0),
        "the vendors were called with secrets that failed authentication"
    );

    // A replica that wrote them (PostgreSQL: still running) may still hold the authentic
    // values, but must never send the other row's secret.
    if app.db.backend == Backend::Postgres {
        for id in ["qubs-a", "qubs-b"] {
            let resp = app.admin_on(0).token_resp(id, None).await;
            assert!(resp.status == 500 || resp.status == 200, "{id}: {} {}", resp.status, resp.body);
        }
        app.healthz(0).await;
    }
    assert_eq!(
        qubs_a.wrong_credential_calls() + qubs_b.wrong_credential_calls(),
        0,
        "a vendor received another connection's secret"
    );

    app.healthz(fresh).await;
    let untouched = FakeQubs::start().await;
    app.admin_on(fresh).create_connection(&untouched.connection("qubs-c")).await;
    assert_eq!(app.admin_on(fresh).access_token("qubs-c").await, untouched.current_token());
}

#[tokio::test]
async fn altered_secret_fails_closed() {
    let mut app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-a")).await;

    flip_last_byte(&app.db().await, Column::Secrets, "qubs-a").await;
    let fresh = app.fresh_process().await;
    assert_integrity_failure(&app, fresh, "qubs-a").await;
    assert_eq!(qubs.calls(), 0, "an altered secret was sent to the vendor");
    app.healthz(fresh).await;
    app.admin_on(fresh).get("/readyz", 200).await;
}
