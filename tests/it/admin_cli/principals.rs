//! `principals list|get|create|delete`, `keys create|list|revoke`, `grants list|put|delete`.

use chrono::{Duration, SubsecRound as _, Utc};
use reqwest::Method;

use super::{api_body, assert_same_json};
use crate::harness::admin_cli::AdminCli;
use crate::harness::{assert_problem, spawn_app};

#[tokio::test]
async fn principals_with_their_keys_and_grants() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);

    let shown = cli.ok(&["principals", "create", "billing-svc", "--role", "service", "--description", "Billing"]).await;
    assert!(shown.contains("billing-svc") && shown.contains("service") && shown.contains("Billing"), "{shown}");
    let table = cli.ok(&["principals", "list"]).await;
    assert!(table.starts_with("ID") && table.contains("ROLE"), "{table}");
    let row = table.lines().find(|l| l.starts_with("billing-svc ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("service") && row.ends_with("Billing"), "{row}");
    assert_same_json(
        &cli.ok(&["principals", "get", "billing-svc", "-o", "json"]).await,
        &api_body(&app, "/v1/principals/billing-svc").await,
    );
    assert_same_json(&cli.ok(&["principals", "list", "-o", "json"]).await, &api_body(&app, "/v1/principals").await);
    assert!(cli.ok(&["principals", "get", "billing-svc"]).await.contains("role:"));

    // The key alone on stdout, once; the note on stderr, without the key.
    let run = cli.run(&["keys", "create", "billing-svc"]).await;
    assert!(run.status.success(), "{}", run.describe());
    let key = run.stdout.strip_suffix('\n').unwrap_or_else(|| panic!("{}", run.describe())).to_owned();
    assert!(
        key.starts_with("tbk_") && !key.contains(char::is_whitespace),
        "stdout must be the key alone:\n{}",
        run.describe()
    );
    assert!(run.stderr.contains("shown this once") && !run.stderr.contains(&key), "{}", run.describe());
    app.admin.with_key(&key).get("/v1/providers", 200).await;

    let expires = (Utc::now() + Duration::days(30)).trunc_subsecs(0);
    let run = cli.run(&["keys", "create", "billing-svc", "--expires-at", &expires.to_rfc3339(), "-o", "json"]).await;
    assert!(run.status.success(), "{}", run.describe());
    let created: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.describe()));
    assert_eq!(created["expires_at"].as_str().map(|t| t.parse::<chrono::DateTime<Utc>>().unwrap()), Some(expires));
    let second_id = created["key_id"].as_str().unwrap().to_owned();

    let keys = cli.ok(&["keys", "list", "billing-svc"]).await;
    assert!(keys.starts_with("KEY ID") && keys.contains(&second_id) && keys.contains("never"), "{keys}");
    assert!(!keys.contains(&key), "a key list holds no secret:\n{keys}");
    assert_same_json(
        &cli.ok(&["keys", "list", "billing-svc", "-o", "json"]).await,
        &api_body(&app, "/v1/principals/billing-svc/keys").await,
    );

    let first_id = app.admin.get("/v1/principals/billing-svc/keys", 200).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] != second_id.as_str())
        .map(|k| k["key_id"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(
        cli.ok(&["keys", "revoke", "billing-svc", &first_id]).await,
        format!("revoked key {first_id} of billing-svc\n")
    );
    assert_problem(&app.admin.with_key(&key).raw(Method::GET, "/v1/providers").send().await, 401, "unauthenticated");

    // Grants: a prefix with `*` travels in the path as it is.
    assert_eq!(cli.ok(&["grants", "put", "billing-svc", "qubs-*"]).await, "granted qubs-* to billing-svc\n");
    cli.ok(&["grants", "put", "billing-svc", "qflow-main"]).await;
    assert_eq!(cli.ok(&["grants", "list", "billing-svc"]).await, "GRANT\nqflow-main\nqubs-*\n");
    assert_same_json(
        &cli.ok(&["grants", "list", "billing-svc", "-o", "json"]).await,
        &api_body(&app, "/v1/principals/billing-svc/grants").await,
    );
    cli.ok(&["grants", "delete", "billing-svc", "qubs-*"]).await;
    cli.ok(&["grants", "delete", "billing-svc", "qflow-main"]).await;
    assert_eq!(cli.ok(&["grants", "list", "billing-svc"]).await, "no grants\n");

    assert_eq!(
        cli.ok(&["principals", "delete", "billing-svc"]).await,
        "deleted principal billing-svc with its keys and grants\n"
    );
    assert_problem(&app.admin.raw(Method::GET, "/v1/principals/billing-svc").send().await, 404, "not_found");
}
