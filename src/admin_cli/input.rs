//! What the admin CLI reads besides its arguments: JSON bodies from a file or stdin, checked
//! with the server's own request types, and secret values from a hidden prompt or stdin.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::error::CliError;
use crate::http::{BodyError, parse_json};

/// Reads `path` (`-`: stdin) as the request type `T`, the way the server will, and encodes it
/// again: a field the server would refuse is named before anything is sent.
pub fn body<T: DeserializeOwned + Serialize>(path: &Path) -> Result<Vec<u8>, CliError> {
    let from_stdin = path.as_os_str() == "-";
    let source = if from_stdin { "stdin".to_owned() } else { path.display().to_string() };
    let mut bytes = Zeroizing::new(Vec::new());
    let read = if from_stdin {
        std::io::stdin().lock().read_to_end(&mut bytes).map(drop)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map(drop)
    };
    read.map_err(|e| CliError::Input(format!("cannot read {source}: {e}")))?;
    let parsed: T = parse_json(&bytes).map_err(|e| match e {
        BodyError::NotJson(why) => CliError::Input(format!("{source} is not JSON ({why})")),
        BodyError::Invalid(errors) => CliError::Input(format!("{source}: {errors}")),
    })?;
    serde_json::to_vec(&parsed).map_err(|e| CliError::Input(format!("cannot encode {source}: {e}")))
}

/// A secret's value: asked for without echo when stdin is a terminal, else stdin to its end
/// with one trailing newline dropped (multi-line values such as PEM keys stay whole).
pub fn secret_value(connection: &str, name: &str) -> Result<SecretString, CliError> {
    let value = if std::io::stdin().is_terminal() {
        let prompt = format!("{name} for connection {connection} (not shown as you type): ");
        Zeroizing::new(
            rpassword::prompt_password(prompt)
                .map_err(|e| CliError::Input(format!("cannot read from the terminal: {e}")))?,
        )
    } else {
        let mut bytes = Zeroizing::new(Vec::new());
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Input(format!("cannot read the value from stdin: {e}")))?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| CliError::Input("the value on stdin is not UTF-8 text".into()))?;
        let text = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
        Zeroizing::new(text.to_owned())
    };
    if value.is_empty() {
        return Err(CliError::Input(format!(
            "no value for {name}: type it at the prompt or pipe it on stdin (an empty secret is not sent)"
        )));
    }
    Ok(SecretString::from(value.as_str()))
}
