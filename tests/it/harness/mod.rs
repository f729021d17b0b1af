//! Everything tests share: database per test, broker processes, typed client, assertions.

pub mod admin_cli;
pub mod api;
pub mod app;
pub mod authserver;
pub mod broker;
pub mod cli;
pub mod client;
pub mod db;
pub mod db_proxy;
pub mod keepalive_proxy;
pub mod keys;
pub mod kill;
pub mod leaks;
pub mod logs;
pub mod metrics;
pub mod npm;
pub mod partition_proxy;
pub mod problem;
pub mod random;
pub mod setup;
pub mod token_answer;

pub use app::{TestApp, spawn_app, spawn_app_with};
pub use problem::{assert_invalid, assert_names_field, assert_problem};
pub use setup::{app_with_qubs, replicated_app_with_qubs};
