//! Command line: `serve`, `migrate`, `openapi`, `gen-master-key`, `rekey`, `keys status`, `copy`,
//! and the admin commands that call a broker's API (`crate::admin_cli`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{CopyArgs, DatabaseArgs, KeyArgs, LogArgs, ServeArgs};

#[derive(Parser)]
#[command(
    name = "tokenbroker",
    version,
    about = "Vendor OAuth credentials in one place; short-lived tokens for internal services.",
    after_help = "Admin commands (connections, principals, keys create|list|revoke, grants, token, providers) call a \
                  broker's HTTP API: set TOKENBROKER_URL and TOKENBROKER_API_KEY. The others work on the database \
                  directly (DATABASE_URL, master keys)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database if needed, then serve HTTP.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print the OpenAPI document (the same one served at /openapi.json).
    Openapi,
    /// Print a new master key entry `ID:BASE64` for TOKENBROKER_MASTER_KEYS.
    GenMasterKey,
    /// Re-encrypt every stored secret and token under the active (first) master key.
    Rekey {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Master keys (`status`: reads the database directly) and principals' API keys (`create`,
    /// `list`, `revoke`: through a broker's API).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Copy everything from DATABASE_URL into an empty database (--to), sealed values as they are:
    /// the way from the embedded default to PostgreSQL replicas.
    Copy {
        #[command(flatten)]
        copy: CopyArgs,
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    #[command(flatten)]
    Api(crate::admin_cli::ApiCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Master keys, on the database directly (DATABASE_URL, master keys; no broker needed): which
    /// key ids seal how many stored values, which are loaded, which may be dropped.
    Status {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        log: LogArgs,
    },
    #[command(flatten)]
    Api(crate::admin_cli::KeyCommand),
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            crate::telemetry::init(&args.log);
            crate::app::serve(*args).await
        }
        Command::Migrate { db, log } => {
            crate::telemetry::init(&log);
            crate::app::migrate(&db).await
        }
        Command::Openapi => crate::http::openapi::print(),
        Command::GenMasterKey => crate::crypto::generate_key_entry().map(|entry| println!("{entry}")),
        Command::Rekey { db, keys, log } => {
            crate::telemetry::init(&log);
            crate::app::rekey(&db, &keys).await
        }
        Command::Keys { command: KeysCommand::Status { db, keys, log } } => {
            crate::telemetry::init(&log);
            crate::app::keys_status(&db, &keys).await
        }
        Command::Copy { copy, db, keys, log } => {
            crate::telemetry::init(&log);
            crate::app::copy(&db, &keys, &copy.to).await
        }
        // They print their own errors, one line each, with an exit status per kind.
        Command::Api(command) => return crate::admin_cli::run(command).await,
        Command::Keys { command: KeysCommand::Api(command) } => return crate::admin_cli::run_keys(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line; no secret is ever part of an error.
            eprintln!("tokenbroker: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
