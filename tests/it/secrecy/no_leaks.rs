//! Drives two replicas through the happy paths and the error paths with distinctive secrets,
//! then searches every answer, every log line (at RUST_LOG=debug) and every database row.

use reqwest::Method;
use serde_json::json;

use crate::fakes::{ClientAuth, FakeOAuth2, FakeQubs, Fault, OAuth2Options};
use crate::harness::client::Exchange;
use crate::harness::db::Backend;
use crate::harness::leaks::{Haystack, Needle, dump_database, find, with_hex_forms};
use crate::harness::{TestApp, random, spawn_app};

/// Answers allowed to carry a secret: the token endpoint's own 200s, and the one-time display
/// of a new API key.
fn may_hold_a_secret(exchange: &Exchange) -> bool {
    let token_answer = exchange.status == 200
        && (exchange.path.contains("/token?")
            || exchange.path.ends_with("/token")
            || exchange.path.ends_with("/token/refresh"));
    let new_key = exchange.method == "POST"
        && exchange.status == 201
        && exchange.path.starts_with("/v1/principals/")
        && exchange.path.ends_with("/keys");
    token_answer || new_key
}

/// Requests whose bodies carry secrets the broker must refuse without repeating them.
async fn send_mistakes(app: &TestApp, qubs: &FakeQubs, needles: &mut Vec<Needle>) {
    let admin = &app.admin;
    let mut secret = |what: &str| {
        let value = random::secret(what);
        needles.push(Needle::new(what, &value));
        value
    };

    let unknown_key = format!("tbk_{}", random::hex(24));
    admin.raw(Method::GET, "/v1/connections").authorization(&format!("Bearer {unknown_key}")).send().await;
    let in_headers = secret("secret sent in request headers");
    admin
        .raw(Method::GET, "/v1/connections/qubs-main")
        .header("x-api-key", &in_headers)
        .header("cookie", &format!("session={in_headers}"))
        .send()
        .await;
    let pasted = secret("secret pasted as an API key");
    admin.raw(Method::GET, "/v1/providers").authorization(&format!("Bearer {pasted}")).send().await;

    let mut invalid = qubs.connection("qubs-invalid");
    invalid["config"].as_object_mut().expect("config").remove("client_id");
    invalid["config"]["client_secret"] = json!(secret("secret put in config"));
    invalid["secrets"] = json!({
        "client_secret": secret("secret of an invalid create"),
        "pin": secret("unknown secret of an invalid create"),
    });
    admin.raw(Method::POST, "/v1/connections").json(&invalid).send().await;

    let mut wrong_type = qubs.connection("qubs-wrong-type");
    wrong_type["secrets"] = json!({"client_secret": {"value": secret("secret nested in an object")}});
    admin.raw(Method::POST, "/v1/connections").json(&wrong_type).send().await;

    let truncated = format!(
        r#"{{"id":"qubs-trunc","provider":"qubs","secrets":{{"client_secret":"{}"#,
        secret("secret in malformed JSON")
    );
    admin.raw(Method::POST, "/v1/connections").body("application/json", truncated).send().await;

    admin
        .raw(Method::PUT, "/v1/connections/qubs-main/secrets")
        .json(&json!({"secrets": {"pin": secret("unknown secret in a PUT")}}))
        .send()
        .await;
    admin
        .raw(Method::PUT, "/v1/connections/nowhere/secrets")
        .json(&json!({"secrets": {"client_secret": secret("secret for a missing connection")}}))
        .send()
        .await;

    needles.push(Needle::new("unknown API key", &unknown_key));
}

/// Every read an admin or a service can make.
async fn read_everything(app: &TestApp) {
    let admin = &app.admin;
    let anonymous = admin.anonymous();
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        anonymous.raw(Method::GET, path).send().await;
    }
    admin.get("/v1/providers", 200).await;
    let connections = admin.get("/v1/connections", 200).await;
    for c in connections["connections"].as_array().expect("connections") {
        admin.connection(c["id"].as_str().expect("id")).await;
    }
    let principals = admin.get("/v1/principals", 200).await;
    for p in principals["principals"].as_array().expect("principals") {
        let id = p["id"].as_str().expect("id");
        admin.get(&format!("/v1/principals/{id}"), 200).await;
        admin.get(&format!("/v1/principals/{id}/keys"), 200).await;
        admin.get(&format!("/v1/principals/{id}/grants"), 200).await;
    }
    let events = admin.audit_events(&[]).await;
    assert!(!events.is_empty(), "admin changes were made but the audit log is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_answers_logs_or_database() {
    let mut app = spawn_app().await;
    // Two replicas where they can share a database; the embedded one serves one process.
    let other = if app.db.backend == Backend::Postgres { app.add_replica().await } else { 0 };
    let qubs = FakeQubs::start().await;
    let generic = FakeOAuth2::start(OAuth2Options { client_auth: ClientAuth::Basic, ..Default::default() }).await;
    let mut needles = vec![
        Needle::new("qubs client_secret", &qubs.client_secret()),
        Needle::new("oauth2 client_secret", &generic.client_secret()),
        Needle::new("bootstrap admin key", app.env.admin_key()),
    ];

    let admin = app.admin.clone();
    admin.create_connection(&qubs.connection("qubs-main")).await;
    admin.create_connection(&generic.connection("generic")).await;
    admin.create_principal("billing", "service").await;
    admin.put_grant("billing", "*").await;
    let service_key = admin.create_key("billing").await;
    needles.push(Needle::new("service API key", &service_key));
    let here = admin.with_key(&service_key);
    let there = app.client_on(other, Some(&service_key));

    // Tokens through both replicas, refreshed every way.
    let first = here.access_token("qubs-main").await;
    let generic_first = there.access_token("generic").await;
    here.refresh("qubs-main", Some(&first)).await;
    there.refresh("generic", Some(&generic_first)).await;
    there.refresh("qubs-main", Some(&first)).await;
    admin.refresh("qubs-main", None).await;

    // A rotation.
    let rotated = random::secret("qubs rotated client_secret");
    needles.push(Needle::new("qubs rotated client_secret", &rotated));
    qubs.set_client_secret(&rotated);
    admin.put_secrets("qubs-main", &json!({"client_secret": rotated})).await;
    here.access_token("qubs-main").await;

    // Vendor failures whose bodies hold secrets or tokens.
    for fault in [Fault::Reject, Fault::TruncatedJson, Fault::Html] {
        generic.set_fault(fault.clone());
        admin.refresh_resp("generic", None).await;
        qubs.set_fault(fault);
        there.refresh_resp("qubs-main", Some("stale")).await;
        admin.refresh_resp("qubs-main", None).await;
    }
    generic.set_fault(Fault::None);
    qubs.set_fault(Fault::None);
    here.access_token("generic").await;
    // A key revoked while in use, then used again.
    let keys = admin.get("/v1/principals/billing/keys", 200).await;
    let key_id = keys["keys"][0]["key_id"].as_str().expect("key_id").to_owned();
    admin.revoke_key("billing", &key_id).await;
    here.token_resp("qubs-main", None).await;

    send_mistakes(&app, &qubs, &mut needles).await;
    read_everything(&app).await;

    for (name, fake_tokens) in [("qubs", qubs.emitted()), ("oauth2", generic.emitted())] {
        assert!(!fake_tokens.is_empty(), "{name} fake issued nothing");
        for (i, token) in fake_tokens.iter().enumerate() {
            needles.push(Needle::new(&format!("{name} access token #{i}"), token));
        }
    }

    let answers: Vec<Haystack> = app
        .transcript()
        .exchanges()
        .iter()
        .filter(|e| !may_hold_a_secret(e))
        .map(|e| Haystack {
            place: format!("answer to {} {} ({})", e.method, e.path, e.status),
            text: format!(
                "{}\n{}",
                e.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>().join("\n"),
                e.body
            ),
        })
        .collect();
    let log_lines = app.log_lines();
    assert!(log_lines.len() > 20, "suspiciously few log lines at RUST_LOG=debug: {}", log_lines.len());
    let logs: Vec<Haystack> = log_lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| Haystack { place: format!("log line {i} ({:?})", l.stream), text: l.text })
        .collect();
    let rows = dump_database(&app.db).await;

    let mut leaks = find(&needles, &answers);
    leaks.extend(find(&needles, &logs));
    leaks.extend(find(&with_hex_forms(&needles), &rows));
    assert!(
        leaks.is_empty(),
        "{} leak(s) of {} secrets searched in {} answers, {} log lines, {} rows:\n{}",
        leaks.len(),
        needles.len(),
        answers.len(),
        logs.len(),
        rows.len(),
        leaks.join("\n")
    );
}
