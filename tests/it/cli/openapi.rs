//! One OpenAPI document: printed by `tokenbroker openapi`, served at `/openapi.json`, and
//! committed as `openapi/openapi.json` (so client generation and review see API changes).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::broker::BrokerEnv;
use crate::harness::{cli, spawn_app};

const REGENERATE: &str = "run `cargo run -q -- openapi > openapi/openapi.json` and commit it";

async fn printed_document() -> Value {
    let out = cli::run(BrokerEnv::empty().command(&["openapi"]), Duration::from_secs(15)).await;
    assert!(out.status.success(), "openapi failed:\n{}", out.describe());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!("`tokenbroker openapi` must print only the JSON document on stdout ({e}):\n{}", out.describe())
    })
}

#[tokio::test]
async fn printed_served_and_committed_documents_are_equal() {
    let printed = printed_document().await;
    let app = spawn_app().await;
    let served = app.admin.anonymous().get("/openapi.json", 200).await;
    assert!(printed == served, "`tokenbroker openapi` and GET /openapi.json differ");

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {} ({e}): {REGENERATE}", path.display()));
    let committed: Value = serde_json::from_str(&committed)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {REGENERATE}", path.display()));
    assert!(committed == printed, "openapi/openapi.json is stale: {REGENERATE}");
}

#[tokio::test]
async fn document_covers_every_v1_route_of_the_contract() {
    let doc = printed_document().await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "not an OpenAPI 3 document: openapi = {}",
        doc["openapi"]
    );
    // Parameter names are the implementation's choice; only the shape of the path matters.
    let normalize = |p: &str| -> String {
        let mut out = String::new();
        let mut in_param = false;
        for c in p.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push_str("{}");
                }
                '}' => in_param = false,
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    };
    let paths: BTreeSet<String> =
        doc["paths"].as_object().expect("document has paths").keys().map(|p| normalize(p)).collect();
    let expected = [
        ("/v1/connections", &["get", "post"][..]),
        ("/v1/connections/{}", &["get", "patch", "delete"][..]),
        ("/v1/connections/{}/secrets", &["put"][..]),
        ("/v1/connections/{}/token", &["get"][..]),
        ("/v1/connections/{}/token/refresh", &["post"][..]),
        ("/v1/principals", &["get", "post"][..]),
        ("/v1/principals/{}", &["get", "delete"][..]),
        ("/v1/principals/{}/keys", &["get", "post"][..]),
        ("/v1/principals/{}/keys/{}", &["delete"][..]),
        ("/v1/principals/{}/grants", &["get"][..]),
        ("/v1/principals/{}/grants/{}", &["put", "delete"][..]),
        ("/v1/audit", &["get"][..]),
        ("/v1/providers", &["get"][..]),
    ];
    let by_shape: Vec<(String, &Value)> =
        doc["paths"].as_object().expect("document has paths").iter().map(|(p, item)| (normalize(p), item)).collect();
    for (path, methods) in expected {
        assert!(paths.contains(path), "OpenAPI lacks {path}; has {paths:?}");
        let item = by_shape.iter().find(|(p, _)| p == path).map(|(_, item)| *item).expect("path present");
        for method in methods {
            assert!(item.get(*method).is_some(), "OpenAPI lacks {} {path}", method.to_uppercase());
        }
    }
}

/// The official OAS 3.1 schema (tests/data/oas-3.1, see SOURCE.md there): what generators such
/// as openapi-python-client check before they generate anything.
fn oas_3_1_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oas-3.1/schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the OAS 3.1 schema is JSON")
}

/// Every JSON Schema the document holds: components, parameters, request and response bodies.
fn schemas_in(doc: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().expect("components.schemas") {
        found.push((format!("components.schemas.{name}"), schema.clone()));
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let at = format!("{} {path}", method.to_uppercase());
            for p in op["parameters"].as_array().into_iter().flatten() {
                found.push((format!("{at} parameter {}", p["name"]), p["schema"].clone()));
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                for (kind, media) in response["content"].as_object().into_iter().flatten() {
                    found.push((format!("{at} {status} {kind}"), media["schema"].clone()));
                }
            }
            for (kind, media) in op["requestBody"]["content"].as_object().into_iter().flatten() {
                found.push((format!("{at} request {kind}"), media["schema"].clone()));
            }
        }
    }
    found
}

/// Every `pattern` inside a schema, wherever it is nested.
fn patterns_in(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern") {
                out.push(p.clone());
            }
            map.values().for_each(|v| patterns_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| patterns_in(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn document_validates_under_the_openapi_3_1_schema() {
    let doc = printed_document().await;
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&oas_3_1_schema())
        .expect("the OAS 3.1 schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("at {}: {e}", e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "the document is not valid OpenAPI 3.1 ({REGENERATE} after fixing):\n{}",
        errors.join("\n")
    );

    // The OAS schema leaves Schema Objects to the dialect: check each against JSON Schema 2020-12,
    // and that every pattern compiles (a generator or fuzzer would choke on it).
    for (at, schema) in schemas_in(&doc) {
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{at}: not a valid JSON Schema 2020-12 schema: {e}");
        }
        let mut patterns = Vec::new();
        patterns_in(&schema, &mut patterns);
        for p in patterns {
            jsonschema::draft202012::new(&serde_json::json!({ "pattern": p }))
                .unwrap_or_else(|e| panic!("{at}: pattern {p:?} does not compile: {e}"));
        }
    }
}

#[tokio::test]
async fn the_validator_catches_what_generators_refuse() {
    // The check above must be able to fail: a response without `description` (what stopped
    // openapi-python-client) and an operation without responses are both refused.
    let validator = jsonschema::draft202012::new(&oas_3_1_schema()).expect("the OAS 3.1 schema compiles");
    let mut doc = printed_document().await;
    assert!(validator.is_valid(&doc));
    doc["paths"]["/healthz"]["get"]["responses"]["200"].as_object_mut().expect("200 of /healthz").remove("description");
    assert!(!validator.is_valid(&doc), "a response without description must be refused");
}
