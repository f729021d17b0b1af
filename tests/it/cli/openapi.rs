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
