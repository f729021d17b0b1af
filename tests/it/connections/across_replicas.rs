//! "Everything below holds across replicas": a change made through one process is what every
//! other process acts on at its next request (only key revocation is allowed 5 seconds).

use serde_json::json;

use crate::auth::assert_forbidden;
use crate::harness::{app_with_qubs, assert_problem, random};

#[tokio::test]
async fn disable_rotation_config_and_delete_reach_the_other_replica() {
    let (mut app, qubs) = app_with_qubs("qubs-main").await;
    let other = app.add_replica().await;
    let there = app.admin_on(other);
    let first = there.access_token("qubs-main").await;

    app.admin.patch_connection("qubs-main", &json!({"status": "disabled"})).await;
    assert_forbidden(&there.token_resp("qubs-main", None).await);
    app.admin.patch_connection("qubs-main", &json!({"status": "active"})).await;
    assert_eq!(there.access_token("qubs-main").await, first);

    let rotated = random::secret("qubs-rotated");
    qubs.set_client_secret(&rotated);
    app.admin.put_secrets("qubs-main", &json!({"client_secret": rotated})).await;
    let second = there.access_token("qubs-main").await;
    assert_ne!(second, first, "the other replica served the token cached before the rotation");
    assert_eq!(second, qubs.current_token());
    assert_eq!(qubs.wrong_credential_calls(), 0, "the other replica used the old secret");

    let api_base = "https://api.qubs.example/integrations/v1";
    app.admin.patch_connection("qubs-main", &json!({"config": {"api_base_url": api_base}})).await;
    assert_eq!(there.token("qubs-main").await["api_base_url"], api_base);

    app.admin.delete("/v1/connections/qubs-main", 204).await;
    assert_problem(&there.token_resp("qubs-main", None).await, 404, "not_found");
}
