//! Path and query parameters as the document states them: each with the pattern, lengths or
//! range the server enforces, so a generated client can check a value before sending it.
//! Only the documentation reads these types; handlers parse the raw values themselves (an id
//! that cannot be valid names nothing: 404), which `documented_patterns_are_the_servers` ties
//! to the same rules.
#![allow(dead_code)]

use utoipa::IntoParams;

/// `{id}` of a connection.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectionPath {
    /// Connection id.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    id: String,
}

/// `{id}` of a principal.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PrincipalPath {
    /// Principal id.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    id: String,
}

/// `{id}/keys/{key_id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// Principal id.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    id: String,
    /// Key id as issued: `key_` + 12 base64url characters, or `bootstrap_` + 12 hex digits for
    /// the key given in `TOKENBROKER_BOOTSTRAP_ADMIN_KEY`.
    #[param(pattern = "^(key_[A-Za-z0-9_-]{12}|bootstrap_[0-9a-f]{12})$", min_length = 16, max_length = 22)]
    key_id: String,
}

/// `{id}/grants/{pattern}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct GrantPath {
    /// Principal id.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,62}$", min_length = 1, max_length = 63)]
    id: String,
    /// A connection id, or a prefix of `[a-z0-9._-]` ending in `*` (`*` alone: every connection).
    #[param(pattern = "^([a-z0-9][a-z0-9._-]{0,62}|[a-z0-9._-]{0,62}\\*)$", min_length = 1, max_length = 63)]
    pattern: String,
}

/// `GET /v1/connections/{id}/token`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Seconds the token must still be valid (default 60); a token younger than half its
    /// lifetime is never replaced merely to satisfy it.
    #[param(minimum = 0, maximum = 86400)]
    min_ttl: Option<u32>,
}

/// A whole number written in plain decimal digits (no sign, no spaces), within `max`: what the
/// document's integer parameters accept, and nothing `str::parse` would add (`+5`, overflow).
pub(super) fn plain_integer(raw: &str, max: i64) -> Option<i64> {
    if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|v| *v <= max)
}

#[cfg(test)]
mod tests;
