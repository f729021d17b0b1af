//! `GET /v1/providers` lists each provider's fields as vendors.md's field table has them: the
//! per-vendor validation tests are driven by this listing, so it must be right.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{provider, spawn};

/// `name → (required, default)` of a listed field set.
fn fields(def: &Value, part: &str) -> BTreeMap<String, (bool, Option<String>)> {
    def[part]
        .as_array()
        .unwrap_or_else(|| panic!("{part} is not a list: {def}"))
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap_or_else(|| panic!("field without a name: {f}")).to_owned();
            let required = f["required"].as_bool().unwrap_or_else(|| panic!("{name}: required is not a bool: {f}"));
            (name, (required, f["default"].as_str().map(str::to_owned)))
        })
        .collect()
}

fn names(fields: &BTreeMap<String, (bool, Option<String>)>, required: bool) -> Vec<&str> {
    fields.iter().filter(|(_, (r, _))| *r == required).map(|(n, _)| n.as_str()).collect()
}

/// One line of vendors.md's field table, names sorted.
struct Row {
    provider: &'static str,
    config: &'static [&'static str],
    optional: &'static [&'static str],
    secrets: &'static [&'static str],
    optional_secrets: &'static [&'static str],
}

impl Row {
    /// Most presets need one secret, the client secret.
    const SECRET: Row =
        Row { provider: "", config: &[], optional: &[], secrets: &["client_secret"], optional_secrets: &[] };
}

#[tokio::test]
async fn each_preset_lists_the_fields_of_the_vendors_table() {
    let app = spawn().await;
    let table = [
        Row { provider: "qubs", config: &["client_id"], optional: &["api_base_url", "token_url"], ..Row::SECRET },
        Row { provider: "qbench", config: &["base_url", "client_id"], ..Row::SECRET },
        Row {
            provider: "cubu",
            config: &["client_id", "tenant_id"],
            optional: &["application_id", "scope", "token_url"],
            ..Row::SECRET
        },
        Row { provider: "quiqup", config: &["client_id"], optional: &["environment", "token_url"], ..Row::SECRET },
        Row {
            provider: "qflow",
            config: &["client_id", "username"],
            optional: &["scope", "token_url"],
            secrets: &["client_secret", "subscription_key"],
            optional_secrets: &["password", "refresh_token"],
        },
    ];
    for row in table {
        let name = row.provider;
        let def = provider(&app, name).await;
        let config = fields(&def, "config");
        assert_eq!(names(&config, true), row.config, "{name}: required config: {def}");
        assert_eq!(names(&config, false), row.optional, "{name}: optional config: {def}");
        let secrets = fields(&def, "secrets");
        assert_eq!(names(&secrets, true), row.secrets, "{name}: required secrets: {def}");
        assert_eq!(names(&secrets, false), row.optional_secrets, "{name}: optional secrets: {def}");
    }

    let default = |name: &str, field: &str, config: &BTreeMap<String, (bool, Option<String>)>| {
        config.get(field).and_then(|(_, d)| d.clone()).unwrap_or_else(|| panic!("{name}.{field} lists no default"))
    };
    let qubs = fields(&provider(&app, "qubs").await, "config");
    assert_eq!(default("qubs", "token_url", &qubs), "https://authenticate.qubs.io/oauth2/token");
    let quiqup = fields(&provider(&app, "quiqup").await, "config");
    assert_eq!(default("quiqup", "environment", &quiqup), "production");
    let qflow = fields(&provider(&app, "qflow").await, "config");
    assert_eq!(default("qflow", "token_url", &qflow), "https://identity.qflowhub.io/core/connect/token");
    assert_eq!(default("qflow", "scope", &qflow), "qflowapi openid offline_access");
    let cubu = fields(&provider(&app, "cubu").await, "config");
    assert_eq!(default("cubu", "scope", &cubu), "{client_id}/.default");
}

#[tokio::test]
async fn oauth2_lists_every_documented_knob() {
    let app = spawn().await;
    let def = provider(&app, "oauth2").await;
    let config = fields(&def, "config");
    assert_eq!(names(&config, true), ["grant_type", "token_url"], "{def}");
    for knob in [
        "client_id",
        "client_auth",
        "body_format",
        "scope",
        "audience",
        "extra_params",
        "jwt",
        "refresh",
        "static_headers",
    ] {
        assert_eq!(config.get(knob).map(|(r, _)| *r), Some(false), "oauth2 should list optional {knob}: {def}");
    }
    let grants: Vec<&str> = def["grants"].as_array().expect("grants").iter().filter_map(Value::as_str).collect();
    for grant in ["client_credentials", "password", "refresh_token", "jwt_bearer"] {
        assert!(grants.contains(&grant), "oauth2 grants should include {grant}: {def}");
    }
}
