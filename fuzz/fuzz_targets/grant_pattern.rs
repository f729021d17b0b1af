//! Grant matching: a grant pattern and a connection id, parsed as the API parses them, and
//! matched as a service caller's token request is authorized.
//!
//! The input is the pattern, a newline, and the connection id (further lines are more
//! patterns the caller holds). Parsing never panics and agrees with the rules the OpenAPI
//! document states (`ids::GRANT_PATTERN`, `ids::ID_PATTERN`); a pattern matches exactly the
//! ids it names: an exact id only itself, a prefix every id that starts with it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenbroker::fuzzing::service_may_fetch;
use tokenbroker::ids::{ConnectionId, GrantPattern, PrincipalId};

fn id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

/// `^[a-z0-9][a-z0-9._-]{0,62}$`, written out.
fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len()) && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit()) && b.iter().all(|&c| id_byte(c))
}

/// `^([a-z0-9][a-z0-9._-]{0,62}|[a-z0-9._-]{0,62}\*)$`, written out.
fn is_pattern(s: &str) -> bool {
    match s.strip_suffix('*') {
        Some(prefix) => prefix.len() <= 62 && prefix.bytes().all(id_byte),
        None => is_id(s),
    }
}

/// What a pattern should match, from its text alone.
fn names(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let pattern_text = lines.next().unwrap_or_default();
    let id_text = lines.next().unwrap_or_default();
    let more: Vec<&str> = lines.collect();

    let pattern = GrantPattern::parse(pattern_text);
    assert_eq!(pattern.is_ok(), is_pattern(pattern_text), "pattern {pattern_text:?} against the stated rule");
    let id = ConnectionId::parse("id", id_text);
    assert_eq!(id.is_ok(), is_id(id_text), "id {id_text:?} against the stated rule");
    assert_eq!(PrincipalId::parse("id", id_text).is_ok(), id.is_ok());

    if let Ok(pattern) = &pattern {
        assert_eq!(pattern.as_str(), pattern_text);
        // A pattern matches what it was made from: an exact id itself, a prefix any id made
        // by completing it.
        let own = pattern_text.strip_suffix('*').map_or_else(|| pattern_text.to_owned(), |p| format!("{p}0"));
        if let Ok(own) = ConnectionId::parse("id", &own) {
            assert!(pattern.matches(&own), "{pattern_text:?} does not match {own}");
        } else {
            // Only a prefix that no id can start with (empty is fine: "0" is an id).
            assert!(pattern_text.ends_with('*'));
        }
        if let Ok(id) = &id {
            assert_eq!(pattern.matches(id), names(pattern_text, id_text), "{pattern_text:?} against {id_text:?}");
        }
    }

    if let Ok(id) = &id {
        // A service may fetch exactly what one of its grants matches; none when it has none.
        let mut grants: Vec<GrantPattern> = pattern.iter().cloned().collect();
        grants.extend(more.iter().filter_map(|p| GrantPattern::parse(p).ok()));
        let expected = grants.iter().any(|g| names(g.as_str(), id_text));
        assert_eq!(service_may_fetch(grants, id), expected, "grants against {id_text:?}");
        assert!(!service_may_fetch(Vec::new(), id));
    }
});
