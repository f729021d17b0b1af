//! Liveness and readiness, as load balancers and orchestrators probe them.

use crate::harness::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_are_200_without_a_key() {
    let app = spawn_app().await;
    let anonymous = app.admin.anonymous();
    anonymous.get("/healthz", 200).await;
    anonymous.get("/readyz", 200).await;
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;
    let resp = app.admin.anonymous().raw(reqwest::Method::GET, "/metrics").send().await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "Prometheus text format is text/plain, got {content_type:?}");
    assert!(
        resp.body.lines().any(|l| !l.starts_with('#') && !l.trim().is_empty()),
        "no samples in /metrics:\n{}",
        resp.body
    );
}
