//! A key stops working when revoked (at once on this replica) or when it expires.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use serde_json::json;

use super::assert_unauthenticated;
use crate::harness::app_with_qubs;
use crate::harness::token_answer::parse_time;

#[tokio::test]
async fn revoked_key_is_401_right_after_revoke() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    for (principal, role, path) in
        [("billing", "service", "/v1/connections/qubs-main/token"), ("ops", "admin", "/v1/connections")]
    {
        app.admin.create_principal(principal, role).await;
        app.admin.put_grant(principal, "qubs-main").await;
        let view = app.admin.create_key_view(principal, None).await;
        let client = app.admin.with_key(view["api_key"].as_str().expect("api_key"));
        client.get(path, 200).await;

        app.admin.revoke_key(principal, view["key_id"].as_str().expect("key_id")).await;
        assert_unauthenticated(&client.raw(Method::GET, path).send().await);
        assert_unauthenticated(&client.raw(Method::GET, "/v1/providers").send().await);
    }
}

#[tokio::test]
async fn expired_key_is_401() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    // Far enough ahead for the set-up below, near enough to keep the test short.
    let expires_at = Utc::now() + chrono::Duration::seconds(4);
    let mut clients = Vec::new();
    for (principal, role, path) in
        [("billing", "service", "/v1/connections/qubs-main/token"), ("ops", "admin", "/v1/principals")]
    {
        app.admin.create_principal(principal, role).await;
        app.admin.put_grant(principal, "qubs-main").await;
        let view = app
            .admin
            .create_key_view(
                principal,
                Some(&json!({"expires_at": expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)})),
            )
            .await;
        let echoed = parse_time(&view["expires_at"]);
        assert_eq!(
            echoed.timestamp(),
            expires_at.timestamp(),
            "the key view should carry the requested expires_at: {view}"
        );
        let client = app.admin.with_key(view["api_key"].as_str().expect("api_key"));
        client.get(path, 200).await;
        clients.push((client, path));
    }

    let wait = (expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(1100);
    tokio::time::sleep(wait).await;
    for (client, path) in clients {
        assert_unauthenticated(&client.raw(Method::GET, path).send().await);
    }
}
