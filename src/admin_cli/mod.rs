//! The admin CLI: `tokenbroker connections|principals|keys create…|grants|token|providers`, each
//! one call to a broker's HTTP API (`TOKENBROKER_URL`, `TOKENBROKER_API_KEY`), built on the
//! server's own request and answer types. Secrets never come from arguments; answers are tables
//! for people or, with `--output json`, the API's JSON exactly as it came.

mod args;
mod client;
mod commands;
mod error;
mod input;
mod render;
mod table;
mod transport;

use std::io::Write as _;
use std::process::ExitCode;

pub use args::{ApiCommand, KeyCommand};
pub use error::CliError;

pub async fn run(command: ApiCommand) -> ExitCode {
    finish(commands::api(command).await)
}

pub async fn run_keys(command: KeyCommand) -> ExitCode {
    finish(commands::keys(command).await)
}

fn finish(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, like clap's own usage errors.
            let _ = writeln!(std::io::stderr(), "error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
