//! Who may call what: keys (authentication), roles and grants (authorization).

mod authentication;
mod grants;
mod key_lifetime;
mod rate_limits;
mod replicas;
mod revocation_bound;
mod roles;

use crate::harness::assert_problem;
use crate::harness::client::Resp;

/// 401 `unauthenticated` with the `WWW-Authenticate: Bearer` challenge.
pub fn assert_unauthenticated(resp: &Resp) {
    assert_problem(resp, 401, "unauthenticated");
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{} {}: 401 needs WWW-Authenticate: Bearer, got {challenge:?}",
        resp.method,
        resp.path
    );
}

pub fn assert_forbidden(resp: &Resp) {
    assert_problem(resp, 403, "forbidden");
}
