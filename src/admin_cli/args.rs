//! What the admin commands take. Nothing here is ever a secret's value: bodies come from a file
//! or stdin, a secret from a prompt or stdin, and the API key preferably from the environment.

use std::ffi::OsString;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::domain::Role;

/// How to reach the broker, and how to show its answers. Flattened into every admin command.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// The broker's base URL.
    #[arg(long, env = "TOKENBROKER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The API key to act with. Prefer the variable: a flag is visible to every user of the
    /// machine in `ps` and stays in shell history; the flag is for scripts that cannot set one.
    #[arg(long, env = "TOKENBROKER_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,
    /// `table` for people; `json` for scripts: the API's JSON answer exactly as it came.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// A JSON request body: a file, or `-` for stdin.
#[derive(Args, Debug, Clone)]
pub struct BodyArgs {
    /// The JSON body (it holds secrets: a file only you can read, or `-` to pipe it on stdin).
    #[arg(long, short = 'f', value_name = "PATH|-")]
    pub file: PathBuf,
}

/// The admin commands, each one call to a broker's HTTP API.
#[derive(Subcommand, Debug)]
pub enum ApiCommand {
    /// Vendor connections (admin; through a broker's API).
    Connections {
        #[command(subcommand)]
        command: ConnectionsCommand,
    },
    /// Principals: internal callers with a role (admin; through a broker's API).
    Principals {
        #[command(subcommand)]
        command: PrincipalsCommand,
    },
    /// Which connections a principal may fetch tokens of (admin; through a broker's API).
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// Print a connection's token answer: access token, expiry and headers to send to the vendor
    /// (any key granted the connection).
    Token {
        /// Connection id.
        id: String,
        /// Seconds the token must still be valid for (the broker's default is 60).
        #[arg(long, value_name = "SECONDS")]
        min_ttl: Option<u32>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Every provider with its grants, config fields and secrets (any valid key).
    Providers {
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConnectionsCommand {
    /// Every connection with its status, token expiry and last error.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// One connection: config, secret names (never values), token facts, vendor URLs.
    Get {
        /// Connection id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Register a connection from a `POST /v1/connections` body (`{"id", "provider",
    /// "description", "config", "secrets"}`); `tokenbroker providers` lists the fields.
    Create {
        #[command(flatten)]
        body: BodyArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Change description, config keys, status or secrets from a `PATCH /v1/connections/{id}`
    /// body (a change of a vendor URL must carry the secrets again).
    Patch {
        /// Connection id.
        id: String,
        #[command(flatten)]
        body: BodyArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Replace one secret. Its value is asked for without echo when stdin is a terminal, else
    /// read from stdin to its end (one trailing newline dropped). Never an argument.
    SetSecrets {
        /// Connection id.
        id: String,
        /// Secret name, e.g. `client_secret` or `password`.
        name: String,
        /// Catches a value given as an argument, to refuse it without repeating it.
        #[arg(hide = true, num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
        value_given: Vec<OsString>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a connection with its secrets and token.
    Delete {
        /// Connection id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum PrincipalsCommand {
    /// Every principal.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// One principal.
    Get {
        /// Principal id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Create a principal; give it a key with `tokenbroker keys create`.
    Create {
        /// Principal id, e.g. `billing-svc`.
        id: String,
        /// `admin` (manages everything) or `service` (fetches tokens of granted connections).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a principal with its keys and grants.
    Delete {
        /// Principal id.
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Principals' API keys, beside `keys status` (master keys) under `tokenbroker keys`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Issue an API key for a principal (through a broker's API). The key is printed once, alone,
    /// on stdout; the broker keeps only its hash.
    Create {
        /// Principal id.
        principal: String,
        /// When the key stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z); never when absent.
        #[arg(long, value_name = "TIME")]
        expires_at: Option<DateTime<Utc>>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// A principal's API keys, without their secrets (through a broker's API).
    List {
        /// Principal id.
        principal: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Revoke an API key: it stops working at once (through a broker's API).
    Revoke {
        /// Principal id.
        principal: String,
        /// Key id, as `keys list` shows it (`key_…`).
        key_id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum GrantsCommand {
    /// A principal's grants.
    List {
        /// Principal id.
        principal: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Let a principal fetch tokens of a connection, or of every id with a prefix (`qbench-*`).
    Put {
        /// Principal id.
        principal: String,
        /// A connection id, or a prefix ending in `*` (quote it in a shell: `'qbench-*'`).
        pattern: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Remove a grant.
    Delete {
        /// Principal id.
        principal: String,
        /// The grant exactly as `grants list` shows it.
        pattern: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).map_err(|_| "must be `admin` or `service`".to_owned())
}
