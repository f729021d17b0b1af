//! The generic `oauth2` provider against a real authorization server (issue 11): panva's
//! `oidc-provider` from the npm registry, run by `tests/authserver/server.mjs`, which rotates
//! refresh tokens, revokes a grant when a rotated token comes back, and checks client
//! assertions as it does for everyone. A TCP proxy in front of it plays the keep-alive race and
//! lost answers deterministically.
//!
//! `server_checks` and `proxy_checks` prove the rig does what the other tests rely on.

mod client_assertions;
mod idle_chain;
mod lost_answer;
mod proxy_checks;
mod rotating_load;
mod server_checks;
mod setup;
