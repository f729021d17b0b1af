//! API docs must work on an isolated network: served from the binary, nothing from a CDN.

use crate::harness::spawn_app;

#[tokio::test]
async fn docs_are_html_served_without_a_cdn() {
    let app = spawn_app().await;
    let resp = app.admin.anonymous().raw(reqwest::Method::GET, "/docs").send().await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type:?}");
    for cdn in ["unpkg.com", "jsdelivr", "cdnjs", "googleapis.com", "cloudflare"] {
        assert!(!resp.body.contains(cdn), "/docs loads assets from {cdn}; they must be served from the binary");
    }
}

#[tokio::test]
async fn openapi_json_is_served_without_a_key() {
    let app = spawn_app().await;
    let doc = app.admin.anonymous().get("/openapi.json", 200).await;
    assert!(doc["paths"].is_object(), "{doc}");
}
