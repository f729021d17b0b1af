//! Cached tokens moved between rows: refused, never handed out as the other connection's.

use crate::fakes::FakeQubs;
use crate::harness::db::Backend;
use crate::harness::{assert_problem, spawn_app};

use super::{Column, swap};

#[tokio::test]
async fn swapped_cached_tokens_are_never_served_for_the_other_connection() {
    let mut app = spawn_app().await;
    let (qubs_a, qubs_b) = (FakeQubs::start().await, FakeQubs::start().await);
    app.admin.create_connection(&qubs_a.connection("qubs-a")).await;
    app.admin.create_connection(&qubs_b.connection("qubs-b")).await;
    let token_a = app.admin.access_token("qubs-a").await;
    let token_b = app.admin.access_token("qubs-b").await;

    swap(&app.db().await, Column::Token, "qubs-a", "qubs-b").await;
    let fresh = app.fresh_process().await;
    for (id, other) in [("qubs-a", &token_b), ("qubs-b", &token_a)] {
        let resp = app.admin_on(fresh).token_resp(id, None).await;
        assert!(!resp.body.contains(other.as_str()), "{id} was handed the other connection's token");
        assert_problem(&resp, 500, "internal");
    }

    // A replica that cached them (PostgreSQL: still running) may serve its own authentic copy,
    // never the other's.
    if app.db.backend == Backend::Postgres {
        for (id, own, other) in [("qubs-a", &token_a, &token_b), ("qubs-b", &token_b, &token_a)] {
            let resp = app.admin_on(0).token_resp(id, None).await;
            assert!(!resp.body.contains(other.as_str()), "{id} was handed the other connection's token");
            if resp.status == 200 {
                assert_eq!(resp.json()["access_token"], own.as_str());
            } else {
                assert_problem(&resp, 500, "internal");
            }
        }
        app.healthz(0).await;
    }
    app.healthz(fresh).await;
}
