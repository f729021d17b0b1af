//! "Revoking a key takes effect at once on the replica that revoked it and within 5 seconds on
//! every other."

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::{TestApp, replicated_app_with_qubs};

#[tokio::test]
async fn revocation_reaches_another_replica_within_5_seconds() {
    let (mut app, _qubs) = replicated_app_with_qubs("qubs-main").await;
    let other = TestApp::add_replica(&mut app).await;
    app.admin.create_principal("billing", "service").await;
    app.admin.put_grant("billing", "qubs-main").await;
    let view = app.admin.create_key_view("billing", None).await;
    let key = view["api_key"].as_str().expect("api_key");
    let path = "/v1/connections/qubs-main/token";

    // Both replicas have seen (and may cache) the key before it is revoked.
    let here = app.client_on(0, Some(key));
    let there = app.client_on(other, Some(key));
    here.get(path, 200).await;
    there.get(path, 200).await;

    app.admin.revoke_key("billing", view["key_id"].as_str().expect("key_id")).await;
    let revoked_at = Instant::now();
    here.raw(Method::GET, path).send().await.expect(401);
    loop {
        let status = there.raw(Method::GET, path).send().await.status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "unexpected status from the other replica");
        assert!(
            revoked_at.elapsed() < Duration::from_millis(5500),
            "the other replica still accepts a key revoked {:?} ago",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
