//! The binary's subcommands and process behaviour, as operators see them.

mod bootstrap;
mod config_errors;
mod copy;
mod embedded;
mod gen_master_key;
mod master_keys;
mod migrate;
mod openapi;
mod shutdown;
