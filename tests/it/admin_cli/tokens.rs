//! `token ID [--min-ttl N]` and `providers`.

use super::{api_body, assert_same_json};
use crate::harness::admin_cli::AdminCli;
use crate::harness::{app_with_qubs, spawn_app};

#[tokio::test]
async fn token_prints_the_answer_a_granted_service_gets() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let svc = app.service(&["qubs-*"]).await;
    let cli = AdminCli::admin_of(&app).with_key(svc.key().unwrap());

    let shown = cli.ok(&["token", "qubs-main"]).await;
    let token = qubs.current_token();
    assert!(shown.contains(&format!("access token:  {token}")), "{shown}");
    assert!(shown.contains(&format!("Authorization: Bearer {token}")), "{shown}");
    assert!(shown.contains("Accept: application/json") && shown.contains("connection:    qubs-main"), "{shown}");

    let json = cli.ok(&["token", "qubs-main", "--min-ttl", "30", "-o", "json"]).await;
    let answer: serde_json::Value = serde_json::from_str(&json).unwrap();
    let api = svc.token("qubs-main").await;
    for member in ["connection_id", "access_token", "token_type", "expires_at", "headers"] {
        assert_eq!(answer[member], api[member], "{member}: the CLI's JSON is the API's answer");
    }
    assert_eq!(qubs.calls(), 1, "a cached token was fetched again");
}

#[tokio::test]
async fn providers_lists_every_provider() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let table = cli.ok(&["providers"]).await;
    assert!(table.starts_with("PROVIDER"), "{table}");
    for name in ["qubs", "qbench", "cubu", "quiqup", "qflow", "oauth2"] {
        assert!(table.lines().any(|l| l.starts_with(&format!("{name} "))), "no row for {name}:\n{table}");
    }
    assert!(table.contains("client_id*") && table.contains("client_secret*"), "required fields are marked:\n{table}");
    assert_same_json(&cli.ok(&["providers", "-o", "json"]).await, &api_body(&app, "/v1/providers").await);
}
