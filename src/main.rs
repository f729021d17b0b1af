//! The `tokenbroker` binary: everything lives in the library so tests and the binary share it.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tokenbroker::cli::run().await
}
