//! `connections list|get|create|patch|set-secrets|delete`.

use serde_json::json;

use super::{BodyFile, api_body, assert_same_json};
use crate::fakes::FakeQubs;
use crate::harness::admin_cli::AdminCli;
use crate::harness::{assert_problem, spawn_app};

#[tokio::test]
async fn a_connection_from_create_to_delete() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-prod");
    body["description"] = json!("QUBS, production");
    let file = BodyFile::new(&body);

    let shown = cli.ok(&["connections", "create", "--file", file.path()]).await;
    for expected in ["id:", "qubs-prod", "provider:", "qubs", "client_secret (values are never shown)", "token url:"] {
        assert!(shown.contains(expected), "the created view should show {expected:?}:\n{shown}");
    }
    assert!(!shown.contains(&qubs.client_secret()), "a secret's value was printed:\n{shown}");
    assert_eq!(app.admin.connection("qubs-prod").await["description"], "QUBS, production");

    let table = cli.ok(&["connections", "list"]).await;
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("ID") && header.contains("STATUS") && header.contains("LAST ERROR"), "{table}");
    let row = lines.find(|l| l.starts_with("qubs-prod ")).unwrap_or_else(|| panic!("no row for qubs-prod:\n{table}"));
    assert!(row.contains("qubs") && row.contains("active") && row.contains("QUBS, production"), "{row}");

    assert_same_json(
        &cli.ok(&["connections", "get", "qubs-prod", "--output", "json"]).await,
        &api_body(&app, "/v1/connections/qubs-prod").await,
    );
    assert_same_json(&cli.ok(&["connections", "list", "-o", "json"]).await, &api_body(&app, "/v1/connections").await);
    let get = cli.ok(&["connections", "get", "qubs-prod"]).await;
    assert!(get.contains("status:") && get.contains("active") && get.contains(&qubs.token_url()), "{get}");

    // A patch from stdin: description and status change, nothing else.
    let run = cli
        .run_with_stdin(
            &["connections", "patch", "qubs-prod", "--file", "-"],
            br#"{"description": "QUBS, paused", "status": "disabled"}"#,
        )
        .await;
    assert!(run.status.success(), "{}", run.describe());
    assert!(run.stdout.contains("disabled") && run.stdout.contains("QUBS, paused"), "{}", run.describe());
    let view = app.admin.connection("qubs-prod").await;
    assert_eq!((view["status"].as_str(), view["description"].as_str()), (Some("disabled"), Some("QUBS, paused")));

    let out = cli.ok(&["connections", "delete", "qubs-prod"]).await;
    assert_eq!(out, "deleted connection qubs-prod\n");
    assert_problem(&app.admin.raw(reqwest::Method::GET, "/v1/connections/qubs-prod").send().await, 404, "not_found");
    assert_eq!(cli.ok(&["connections", "list"]).await, "no connections\n");
    // A 204 has no body: in JSON mode nothing is printed.
    app.admin.create_connection(&qubs.connection("qubs-2")).await;
    assert_eq!(cli.ok(&["connections", "delete", "qubs-2", "-o", "json"]).await, "");
}

#[tokio::test]
async fn set_secrets_replaces_the_secret_the_vendor_then_sees() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    app.admin.token("qubs-main").await;

    let rotated = crate::harness::random::secret("rotated");
    qubs.set_client_secret(&rotated);
    // As `echo "$SECRET" | tokenbroker connections set-secrets …` sends it: one trailing newline.
    let run = cli
        .run_with_stdin(
            &["connections", "set-secrets", "qubs-main", "client_secret"],
            format!("{rotated}\n").as_bytes(),
        )
        .await;
    assert!(run.status.success(), "{}", run.describe());
    assert!(run.stdout.contains("client_secret (values are never shown)"), "{}", run.describe());
    assert!(!run.stdout.contains(&rotated) && !run.stderr.contains(&rotated), "{}", run.describe());

    // The cached token went with the old secret; the vendor sees exactly the new one.
    app.admin.token("qubs-main").await;
    assert_eq!(qubs.calls(), 2);
    assert_eq!(qubs.wrong_credential_calls(), 0, "the vendor got something other than the piped secret");

    // Nothing on stdin: refused before anything is sent.
    let run = cli.run_with_stdin(&["connections", "set-secrets", "qubs-main", "client_secret"], b"").await;
    let line = run.one_line_error();
    assert!(line.contains("no value for client_secret"), "{line}");
}
