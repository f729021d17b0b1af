//! tokenbroker: one place that holds vendors' OAuth credentials, encrypted, and hands
//! short-lived access tokens to internal services, with one vendor refresh per expiry
//! however many callers and replicas ask at once.

pub mod app;
pub mod auth;
pub mod cli;
pub mod coherence;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod http;
pub mod ids;
pub mod providers;
pub mod refresh;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod usage;
pub mod validation;
