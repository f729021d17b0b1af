//! Field definitions: the single source for create validation and `GET /v1/providers`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::validation::ValidationErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    /// A string from a fixed set.
    OneOf(&'static [&'static str]),
    /// A JSON object (extra parameters, JWT settings…), checked by the provider's builder.
    Object,
    /// A list of strings.
    StringList,
    /// A whole number of seconds.
    Seconds,
}

/// What a config field says about where, and as whom, the broker talks to the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facing {
    /// Neither: a scope, a body format, a lifetime.
    No,
    /// Which client or user the credentials are (client id, username, grant): a refresh
    /// token belongs to it, so changing it drops the refresh token.
    Identity,
    /// Where credentials or handed-out tokens go (a URL, a host, a tenant): changing it needs
    /// the secrets given again in the same request, so that an admin key alone cannot send a
    /// stored secret somewhere new, and drops the refresh token.
    Destination,
}

#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub default: Option<&'static str>,
    pub description: &'static str,
    pub facing: Facing,
}

impl FieldDef {
    pub const fn required(name: &'static str, description: &'static str) -> Self {
        Self { name, kind: Kind::String, required: true, default: None, description, facing: Facing::No }
    }

    pub const fn optional(name: &'static str, description: &'static str) -> Self {
        Self { name, kind: Kind::String, required: false, default: None, description, facing: Facing::No }
    }

    pub const fn destination(mut self) -> Self {
        self.facing = Facing::Destination;
        self
    }

    pub const fn identity(mut self) -> Self {
        self.facing = Facing::Identity;
        self
    }

    pub const fn with_default(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    pub const fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }
}

/// How a field is described in `GET /v1/providers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldInfo {
    pub name: String,
    pub required: bool,
    pub default: Option<String>,
    pub description: String,
    /// `string`, `object`, `string[]`, or `one of: a, b`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `destination` (where credentials or tokens go: changing it needs the secrets again),
    /// `identity` (which client or user: changing it drops the refresh token), or null.
    pub vendor_facing: Option<String>,
}

impl From<&FieldDef> for FieldInfo {
    fn from(f: &FieldDef) -> Self {
        Self {
            name: f.name.to_owned(),
            required: f.required,
            default: f.default.map(str::to_owned),
            description: f.description.to_owned(),
            kind: match f.kind {
                Kind::String => "string".to_owned(),
                Kind::Object => "object".to_owned(),
                Kind::StringList => "string[]".to_owned(),
                Kind::Seconds => "integer (seconds)".to_owned(),
                Kind::OneOf(values) => format!("one of: {}", values.join(", ")),
            },
            vendor_facing: match f.facing {
                Facing::No => None,
                Facing::Identity => Some("identity".to_owned()),
                Facing::Destination => Some("destination".to_owned()),
            },
        }
    }
}

/// Checks names, presence and JSON types of `config` against `defs`, naming each bad field
/// as `<prefix>.<name>`.
pub fn check_config(defs: &[FieldDef], config: &Map<String, Value>, errors: &mut ValidationErrors) {
    for name in config.keys() {
        if !defs.iter().any(|d| d.name == name) {
            errors.add(format!("config.{name}"), "unknown field for this provider");
        }
    }
    for def in defs {
        let field = format!("config.{}", def.name);
        match config.get(def.name) {
            None | Some(Value::Null) if def.required => errors.add(field, "required"),
            None | Some(Value::Null) => {}
            Some(value) => {
                if let Err(message) = check_kind(def.kind, value) {
                    errors.add(field, message);
                }
            }
        }
    }
}

/// Checks names and presence of secrets against `known` (name, required) pairs; values are
/// checked to be non-empty strings where the JSON is parsed.
pub fn check_secrets<'a>(
    known: &[(&str, bool)],
    names: impl Iterator<Item = &'a str> + Clone,
    errors: &mut ValidationErrors,
) {
    for name in names.clone() {
        if !known.iter().any(|(k, _)| *k == name) {
            errors.add(format!("secrets.{name}"), "unknown secret for this provider");
        }
    }
    for (name, _) in known.iter().filter(|(_, required)| *required) {
        if !names.clone().any(|n| n == *name) && !errors.0.iter().any(|e| e.field == format!("secrets.{name}")) {
            errors.add(format!("secrets.{name}"), "required");
        }
    }
}

/// A configured lifetime: from a second to a year. Unbounded, a huge one overflowed the
/// timestamp arithmetic it is added to (found by the `provider_config` fuzz target).
pub fn is_lifetime(seconds: i64) -> bool {
    (1..=super::response::MAX_LIFETIME).contains(&seconds)
}

pub const LIFETIME_RULE: &str = "must be a whole number of seconds from 1 to 31622400 (a year)";

fn check_kind(kind: Kind, value: &Value) -> Result<(), String> {
    match (kind, value) {
        (Kind::String, Value::String(s)) if s.trim().is_empty() => Err("must not be empty".into()),
        (Kind::String, Value::String(_)) => Ok(()),
        (Kind::String, _) => Err("must be a string".into()),
        (Kind::OneOf(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        (Kind::OneOf(allowed), _) => Err(format!("must be one of: {}", allowed.join(", "))),
        (Kind::Object, Value::Object(_)) => Ok(()),
        (Kind::Object, _) => Err("must be an object".into()),
        (Kind::StringList, Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        (Kind::StringList, _) => Err("must be a list of strings".into()),
        (Kind::Seconds, Value::Number(n)) if n.as_i64().is_some_and(is_lifetime) => Ok(()),
        (Kind::Seconds, _) => Err(LIFETIME_RULE.into()),
    }
}
