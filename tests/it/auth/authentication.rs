//! No key, an unknown key, or something that is not a bearer key: 401 on every kind of route.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;

use super::assert_unauthenticated;
use crate::harness::app_with_qubs;

#[tokio::test]
async fn missing_unknown_or_malformed_keys_are_401_with_a_bearer_challenge() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let unknown = format!("tbk_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    let admin_key = app.admin.key().expect("admin key").to_owned();
    let routes = [
        (Method::GET, "/v1/connections/qubs-main/token"),
        (Method::GET, "/v1/connections"),
        (Method::POST, "/v1/principals"),
        (Method::GET, "/v1/providers"),
    ];
    for (method, path) in routes {
        let req = || app.admin.raw(method.clone(), path);
        assert_unauthenticated(&req().no_auth().send().await);
        assert_unauthenticated(&req().authorization(&format!("Bearer {unknown}")).send().await);
        assert_unauthenticated(&req().authorization("Bearer ").send().await);
        assert_unauthenticated(&req().authorization(&format!("Basic {}", base64_basic(&admin_key))).send().await);
        // The admin key with a character changed is just another unknown key.
        let mut altered = admin_key.clone();
        let last = altered.pop().expect("non-empty key");
        altered.push(if last == 'a' { 'b' } else { 'a' });
        assert_unauthenticated(&req().authorization(&format!("Bearer {altered}")).send().await);
    }
    assert_eq!(qubs.calls(), 0, "an unauthenticated call reached the vendor");
}

fn base64_basic(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{key}"))
}

/// An empty shell variable in `Authorization: Bearer $KEY` is a missing key, and said so.
#[tokio::test]
async fn a_bearer_without_a_key_is_reported_as_missing() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    for header in ["Bearer", "Bearer ", "bearer   "] {
        let resp = app.admin.raw(Method::GET, "/v1/connections").authorization(header).send().await;
        assert_unauthenticated(&resp);
        assert!(resp.json()["detail"].as_str().unwrap_or_default().contains("missing"), "{header:?}: {}", resp.body);
    }
}
