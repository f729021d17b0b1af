//! Identifiers parsed once at the edge, so the rest of the code never re-validates them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::ValidationErrors;

/// Connection and principal ids: `^[a-z0-9][a-z0-9._-]{0,62}$`.
fn is_valid_id(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(|&b| is_id_byte(b))
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

/// The id rule as a regular expression, as the OpenAPI document states it.
pub const ID_PATTERN: &str = "^[a-z0-9][a-z0-9._-]{0,62}$";
/// A grant: an id, or a prefix ending in `*`, as the OpenAPI document states it.
pub const GRANT_PATTERN: &str = "^([a-z0-9][a-z0-9._-]{0,62}|[a-z0-9._-]{0,62}\\*)$";

const ID_RULE: &str = "must match ^[a-z0-9][a-z0-9._-]{0,62}$";

macro_rules! id_type {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(field: &str, value: &str) -> Result<Self, ValidationErrors> {
                Self::parse_owned(field, value.to_owned())
            }

            /// [`Self::parse`] without a copy, for a value the caller already owns (a path
            /// segment on the hot path).
            pub fn parse_owned(field: &str, value: String) -> Result<Self, ValidationErrors> {
                if is_valid_id(&value) { Ok(Self(value)) } else { Err(ValidationErrors::single(field, ID_RULE)) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For values read back from our own database, which only ever stores parsed ids.
            pub(crate) fn from_trusted(value: String) -> Self {
                Self(value)
            }
        }

        // Hash and Eq are the inner string's, so maps keyed by the id can be looked up by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(ConnectionId);
id_type!(PrincipalId);

/// A grant: an exact connection id, or a prefix ending in `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GrantPattern(String);

impl GrantPattern {
    pub fn parse(value: &str) -> Result<Self, ValidationErrors> {
        let ok = match value.strip_suffix('*') {
            Some(prefix) => prefix.len() <= 62 && prefix.bytes().all(is_id_byte),
            None => is_valid_id(value),
        };
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationErrors::single(
                "pattern",
                "must be a connection id, or a prefix of [a-z0-9._-] ending in `*`",
            ))
        }
    }

    pub fn matches(&self, connection: &ConnectionId) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => connection.as_str().starts_with(prefix),
            None => self.0 == connection.as_str(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_contract() {
        for ok in ["a", "qbench-prod", "0.x_y-z", &"a".repeat(63)] {
            assert!(ConnectionId::parse("id", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", &"a".repeat(64), "é"] {
            assert!(ConnectionId::parse("id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grants_match_exactly_or_by_prefix() {
        let id = |s: &str| ConnectionId::parse("id", s).unwrap();
        let exact = GrantPattern::parse("qflow-main").unwrap();
        assert!(exact.matches(&id("qflow-main")));
        assert!(!exact.matches(&id("qflow-main2")));
        let prefix = GrantPattern::parse("qbench-*").unwrap();
        assert!(prefix.matches(&id("qbench-prod")));
        assert!(!prefix.matches(&id("qflow-prod")));
        assert!(GrantPattern::parse("*").unwrap().matches(&id("anything")));
        for bad in ["", "a*b", "Q*", "a**", "-x/"] {
            assert!(GrantPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
