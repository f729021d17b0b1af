//! tokenbroker: one place that holds vendors' OAuth credentials, encrypted, and hands
//! short-lived access tokens to internal services, with one vendor refresh per expiry
//! however many callers and replicas ask at once.

pub mod admin;
pub mod admin_cli;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod http;
pub mod ids;
pub mod invalidation;
pub mod limits;
pub mod providers;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod usage;
pub mod validation;
