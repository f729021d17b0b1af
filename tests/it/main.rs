#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests: the real `tokenbroker` binary, a real PostgreSQL database per test and
//! fake vendors on loopback, checked against the API reference (`docs/api.md`)
//! and `docs/decisions.md`. One binary so that the harness is compiled once.

mod fakes;
mod harness;

mod admin_cli;
mod audit;
mod auth;
mod cli;
mod concurrency;
mod connections;
mod docs;
mod integrity;
mod interop;
mod listener;
mod ops;
mod principals;
mod resilience;
mod secrecy;
mod store;
mod tokens;
mod vendor_errors;
mod vendors;
