//! Unit tests of `http::params`.

use serde_json::Value;

use super::plain_integer;
use crate::ids::{ConnectionId, GrantPattern, ID_PATTERN};

fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> Result<&'a Value, String> {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .ok_or_else(|| format!("{method} {path} has no parameter {name}"))
}

#[test]
fn documented_patterns_are_the_servers() -> Result<(), Box<dyn std::error::Error>> {
    let doc = serde_json::to_value(crate::http::openapi::document())?;
    for (path, method) in [
        ("/v1/connections/{id}", "get"),
        ("/v1/connections/{id}/token", "get"),
        ("/v1/principals/{id}", "get"),
        ("/v1/principals/{id}/keys/{key_id}", "delete"),
        ("/v1/principals/{id}/grants/{pattern}", "put"),
    ] {
        assert_eq!(parameter(&doc, path, method, "id")?["schema"]["pattern"], ID_PATTERN, "{method} {path}");
    }
    for schema in ["CreateConnection", "CreatePrincipal"] {
        assert_eq!(doc["components"]["schemas"][schema]["properties"]["id"]["pattern"], ID_PATTERN);
    }
    // The documented grant pattern and the server's parser agree on samples of both kinds.
    let grant = parameter(&doc, "/v1/principals/{id}/grants/{pattern}", "put", "pattern")?["schema"]["pattern"]
        .as_str()
        .ok_or("the grant pattern's schema has no pattern")?
        .to_owned();
    assert_eq!(grant, crate::ids::GRANT_PATTERN);
    for ok in ["*", "a", "qbench-*", "-*", "a.b_c-d"] {
        assert!(GrantPattern::parse(ok).is_ok(), "{ok}");
    }
    assert!(ConnectionId::parse("id", &"a".repeat(63)).is_ok());
    Ok(())
}

#[test]
fn integers_are_plain_digits_within_range() {
    assert_eq!(plain_integer("0", 10), Some(0));
    assert_eq!(plain_integer("86400", 86_400), Some(86_400));
    for bad in ["", "+5", "-1", " 5", "5 ", "1.0", "86401", "9223372036854775807", "1e3"] {
        assert_eq!(plain_integer(bad, 86_400), None, "{bad:?}");
    }
}
