//! Command line: `serve`, `migrate`, `openapi`, `gen-master-key`, `rekey`, `keys status`, `copy`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{CopyArgs, DatabaseArgs, KeyArgs, LogArgs, ServeArgs};

#[derive(Parser)]
#[command(
    name = "tokenbroker",
    version,
    about = "Vendor OAuth credentials in one place; short-lived tokens for internal services."
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
    /// Master keys: `status` shows which key ids seal how many stored values.
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
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Which master key ids seal how many stored values, which are loaded, which may be dropped.
    Status {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        log: LogArgs,
    },
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
