//! Errors as one line on stderr with a non-zero exit: problem+json with its code and fields,
//! bodies refused before sending, and brokers that cannot be reached, said plainly with the URL.

use reqwest::Method;

use super::BodyFile;
use crate::fakes::FakeQubs;
use crate::harness::admin_cli::AdminCli;
use crate::harness::{assert_problem, spawn_app};

#[tokio::test]
async fn problems_are_one_line_with_code_and_fields() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);

    let file = BodyFile::new(&serde_json::json!({"id": "qubs-x", "provider": "qubs"}));
    let run = cli.run(&["connections", "create", "--file", file.path()]).await;
    assert_eq!(run.status.code(), Some(1), "{}", run.describe());
    assert_eq!(
        run.one_line_error(),
        "error: 422 invalid_request: config.client_id: required; secrets.client_secret: required"
    );
    assert_problem(&app.admin.raw(Method::GET, "/v1/connections/qubs-x").send().await, 404, "not_found");

    let line = cli.run(&["connections", "get", "nope"]).await.one_line_error();
    assert_eq!(line, "error: 404 not_found: connection not found");

    let line = cli.run(&["principals", "create", "dup", "--role", "service"]).await;
    assert!(line.status.success(), "{}", line.describe());
    let line = cli.run(&["principals", "create", "dup", "--role", "service"]).await.one_line_error();
    assert!(line.starts_with("error: 409 already_exists: "), "{line}");

    let line = cli.run(&["grants", "put", "dup", "Not*A*Pattern"]).await.one_line_error();
    assert!(line.starts_with("error: 422 invalid_request: pattern: "), "{line}");

    let line = cli.run(&["token", "nope", "--min-ttl", "999999"]).await.one_line_error();
    assert!(line.starts_with("error: 400 invalid_request: min_ttl: "), "{line}");

    let line = cli.with_key("tbk_not-a-key").run(&["providers"]).await.one_line_error();
    assert!(
        line.starts_with("error: 401 unauthenticated: ") && line.ends_with("(check TOKENBROKER_API_KEY)"),
        "{line}"
    );

    let line = cli.without_key().run(&["connections", "list"]).await.one_line_error();
    assert!(line.starts_with("error: no API key: set TOKENBROKER_API_KEY"), "{line}");
}

#[tokio::test]
async fn bodies_are_checked_with_the_servers_types_before_sending() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);
    let qubs = FakeQubs::start().await;
    let mut body = qubs.connection("qubs-x");
    body["colour"] = serde_json::json!("blue");
    let run = cli.run_with_stdin(&["connections", "create", "-f", "-"], body.to_string().as_bytes()).await;
    let line = run.one_line_error();
    assert!(line.starts_with("error: stdin: colour: unknown field `colour`"), "{line}");
    assert!(!line.contains(&qubs.client_secret()), "{line}");

    // A wrong type names the field and never repeats the value, which may be a secret.
    let run = cli
        .run_with_stdin(
            &["connections", "patch", "qubs-x", "-f", "-"],
            br#"{"description": "s3cr3t-ish", "status": "gone"}"#,
        )
        .await;
    let line = run.one_line_error();
    assert!(line.starts_with("error: stdin: status: "), "{line}");

    let line = cli.run_with_stdin(&["connections", "create", "-f", "-"], b"{not json").await.one_line_error();
    assert!(line.starts_with("error: stdin is not JSON ("), "{line}");
    let line = cli.run(&["connections", "create", "-f", "/nonexistent/body.json"]).await.one_line_error();
    assert!(line.starts_with("error: cannot read /nonexistent/body.json: "), "{line}");

    assert_eq!(
        app.admin.get("/v1/connections", 200).await["connections"],
        serde_json::json!([]),
        "nothing was created"
    );
}

#[tokio::test]
async fn unreachable_brokers_are_said_plainly_with_the_url() {
    let app = spawn_app().await;
    let cli = AdminCli::admin_of(&app);

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let line = cli.with_url(&format!("http://{closed}")).run(&["connections", "list"]).await.one_line_error();
    assert_eq!(line, format!("error: cannot reach http://{closed}/v1/connections: connection refused"));

    // TLS to a plain-HTTP port.
    let https = cli.url.replace("http://", "https://");
    let line = cli.with_url(&https).run(&["connections", "list"]).await.one_line_error();
    assert!(line.starts_with(&format!("error: TLS with {https}/v1/connections failed: ")), "{line}");

    // `.invalid` never resolves (RFC 6761).
    let line = cli.with_url("http://broker.invalid:8080").run(&["providers"]).await.one_line_error();
    assert!(
        line.starts_with("error: cannot resolve broker.invalid (from http://broker.invalid:8080/v1/providers): "),
        "{line}"
    );

    // Something that is not a broker: its error is not problem+json.
    let qubs = FakeQubs::start().await;
    let line = cli.with_url(&format!("http://{}", qubs.addr)).run(&["connections", "list"]).await.one_line_error();
    assert!(
        line.starts_with("error: 404 Not Found from http://") && line.contains("is TOKENBROKER_URL a tokenbroker?"),
        "{line}"
    );

    let line = cli.with_url("ftp://example.org").run(&["providers"]).await.one_line_error();
    assert!(line.starts_with("error: TOKENBROKER_URL must be an http:// or https:// URL"), "{line}");
}
