//! "Everything below holds across replicas": a change made through one process reaches every
//! other process through LISTEN/NOTIFY, in milliseconds, and within 5 seconds at worst.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::auth::assert_forbidden;
use crate::harness::client::{Resp, TestClient};
use crate::harness::{assert_problem, random, replicated_app_with_qubs};

/// Another replica learns of a change through Postgres LISTEN/NOTIFY, delivered within
/// milliseconds of the commit (and at worst after the 5 s cache TTL): poll for it, but no
/// longer than that bound.
async fn within_5s(what: &str, there: &TestClient, pass: impl Fn(&Resp) -> bool) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let resp = there.token_resp("qubs-main", None).await;
        if pass(&resp) {
            return resp;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not reach the other replica within 5 s: {} {}",
            resp.status,
            resp.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn disable_rotation_config_and_delete_reach_the_other_replica() {
    let (mut app, qubs) = replicated_app_with_qubs("qubs-main").await;
    let other = app.add_replica().await;
    let there = app.admin_on(other);
    let first = there.access_token("qubs-main").await;

    app.admin.patch_connection("qubs-main", &json!({"status": "disabled"})).await;
    assert_forbidden(&within_5s("disabling", &there, |r| r.status != 200).await);
    app.admin.patch_connection("qubs-main", &json!({"status": "active"})).await;
    let back = within_5s("re-enabling", &there, |r| r.status == 200).await;
    assert_eq!(back.json()["access_token"], first.as_str());

    let rotated = random::secret("qubs-rotated");
    qubs.set_client_secret(&rotated);
    app.admin.put_secrets("qubs-main", &json!({"client_secret": rotated})).await;
    let second =
        within_5s("a secret rotation", &there, |r| r.status != 200 || r.json()["access_token"] != first.as_str()).await;
    assert_eq!(second.json()["access_token"], qubs.current_token().as_str(), "{}", second.body);
    assert_eq!(qubs.wrong_credential_calls(), 0, "the other replica used the old secret");

    let api_base = "https://api.qubs.example/integrations/v1";
    let change = json!({"config": {"api_base_url": api_base}, "secrets": {"client_secret": rotated}});
    app.admin.patch_connection("qubs-main", &change).await;
    within_5s("a config change", &there, |r| r.status == 200 && r.json()["api_base_url"] == api_base).await;

    app.admin.delete("/v1/connections/qubs-main", 204).await;
    assert_problem(&within_5s("a delete", &there, |r| r.status != 200).await, 404, "not_found");
}
