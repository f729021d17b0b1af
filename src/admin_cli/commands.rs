//! Each admin command: which API call it makes and what it prints.

use std::io::Write as _;

use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::args::{ApiArgs, ApiCommand, ConnectionsCommand, GrantsCommand, KeyCommand, Output, PrincipalsCommand};
use super::client::{Answer, BrokerClient};
use super::error::CliError;
use super::{input, render};
use crate::http::views::{
    ConnectionList, ConnectionView, GrantList, KeyCreated, KeyList, PrincipalList, PrincipalView, TokenResponse,
};
use crate::http::{CreateConnection, CreateKey, CreatePrincipal, ProviderList, ReplaceSecrets, UpdateConnection};

/// A broker to call and how to show its answers.
struct Session {
    broker: BrokerClient,
    output: Output,
}

impl Session {
    fn new(api: &ApiArgs) -> Result<Session, CliError> {
        Ok(Session { broker: BrokerClient::new(&api.url, api.api_key.as_ref())?, output: api.output })
    }

    /// Calls the API and shows its answer: as it came (`--output json`), or read as the API's
    /// type `T` and rendered for people.
    async fn show<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        body: Option<Vec<u8>>,
        human: impl Fn(&T) -> String,
    ) -> Result<(), CliError> {
        let answer = self.broker.call(method, path, &[], body).await?;
        self.print_answer(&answer, human)
    }

    fn print_answer<T: DeserializeOwned>(&self, answer: &Answer, human: impl Fn(&T) -> String) -> Result<(), CliError> {
        match self.output {
            Output::Json => print_raw(&answer.body),
            Output::Table => print(&human(&answer.parse::<T>()?)),
        }
    }

    /// Calls an operation the API answers with 204: a line for people, nothing for scripts.
    async fn act(&self, method: Method, path: &[&str], done: String) -> Result<(), CliError> {
        self.broker.call(method, path, &[], None).await?;
        match self.output {
            Output::Json => Ok(()),
            Output::Table => print(&format!("{done}\n")),
        }
    }
}

pub async fn api(command: ApiCommand) -> Result<(), CliError> {
    match command {
        ApiCommand::Connections { command } => connections(command).await,
        ApiCommand::Principals { command } => principals(command).await,
        ApiCommand::Grants { command } => grants(command).await,
        ApiCommand::Token { id, min_ttl, api } => {
            let s = Session::new(&api)?;
            let query: Vec<(&str, String)> = min_ttl.map(|t| ("min_ttl", t.to_string())).into_iter().collect();
            let answer = s.broker.call(Method::GET, &["v1", "connections", &id, "token"], &query, None).await?;
            s.print_answer::<TokenResponse>(&answer, render::token)
        }
        ApiCommand::Providers { api } => {
            Session::new(&api)?.show::<ProviderList>(Method::GET, &["v1", "providers"], None, render::providers).await
        }
    }
}

async fn connections(command: ConnectionsCommand) -> Result<(), CliError> {
    match command {
        ConnectionsCommand::List { api } => {
            Session::new(&api)?
                .show::<ConnectionList>(Method::GET, &["v1", "connections"], None, render::connections)
                .await
        }
        ConnectionsCommand::Get { id, api } => {
            let path = ["v1", "connections", &id];
            Session::new(&api)?.show::<ConnectionView>(Method::GET, &path, None, render::connection).await
        }
        ConnectionsCommand::Create { body, api } => {
            let s = Session::new(&api)?;
            let body = input::body::<CreateConnection>(&body.file)?;
            s.show::<ConnectionView>(Method::POST, &["v1", "connections"], Some(body), render::connection).await
        }
        ConnectionsCommand::Patch { id, body, api } => {
            let s = Session::new(&api)?;
            let body = input::body::<UpdateConnection>(&body.file)?;
            s.show::<ConnectionView>(Method::PATCH, &["v1", "connections", &id], Some(body), render::connection).await
        }
        ConnectionsCommand::SetSecrets { id, name, value_given, api } => {
            refuse_value_arguments(&name, value_given.len())?;
            let s = Session::new(&api)?;
            let value = input::secret_value(&id, &name)?;
            let mut secrets = Map::new();
            secrets.insert(name, Value::String(value.expose_secret().to_owned()));
            let body = encode(&ReplaceSecrets { secrets })?;
            let path = ["v1", "connections", &id, "secrets"];
            s.show::<ConnectionView>(Method::PUT, &path, Some(body), render::connection).await
        }
        ConnectionsCommand::Delete { id, api } => {
            let done = format!("deleted connection {id}");
            Session::new(&api)?.act(Method::DELETE, &["v1", "connections", &id], done).await
        }
    }
}

/// A value on the command line is already in `ps` and shell history: refuse it, and never repeat
/// it (not even in the error), so it reaches no log or terminal scrollback from us either.
fn refuse_value_arguments(name: &str, extra_arguments: usize) -> Result<(), CliError> {
    if extra_arguments > 0 || name.contains('=') || name.chars().any(char::is_whitespace) {
        return Err(CliError::Usage(
            "set-secrets takes a secret's name, never its value (arguments show in `ps` and shell history): \
             type the value at the prompt, or pipe it on stdin; if you typed a value here, consider it exposed"
                .into(),
        ));
    }
    Ok(())
}

async fn principals(command: PrincipalsCommand) -> Result<(), CliError> {
    match command {
        PrincipalsCommand::List { api } => {
            Session::new(&api)?
                .show::<PrincipalList>(Method::GET, &["v1", "principals"], None, render::principals)
                .await
        }
        PrincipalsCommand::Get { id, api } => {
            let path = ["v1", "principals", &id];
            Session::new(&api)?.show::<PrincipalView>(Method::GET, &path, None, render::principal).await
        }
        PrincipalsCommand::Create { id, role, description, api } => {
            let s = Session::new(&api)?;
            let body = encode(&CreatePrincipal { id, role, description })?;
            s.show::<PrincipalView>(Method::POST, &["v1", "principals"], Some(body), render::principal).await
        }
        PrincipalsCommand::Delete { id, api } => {
            let done = format!("deleted principal {id} with its keys and grants");
            Session::new(&api)?.act(Method::DELETE, &["v1", "principals", &id], done).await
        }
    }
}

pub async fn keys(command: KeyCommand) -> Result<(), CliError> {
    match command {
        KeyCommand::Create { principal, expires_at, api } => {
            let s = Session::new(&api)?;
            let body = encode(&CreateKey { expires_at })?;
            let answer =
                s.broker.call(Method::POST, &["v1", "principals", &principal, "keys"], &[], Some(body)).await?;
            let key: KeyCreated = answer.parse()?;
            // The key alone on stdout (`KEY=$(tokenbroker keys create …)`); the note for people on stderr.
            match s.output {
                Output::Json => print_raw(&answer.body)?,
                Output::Table => print(&format!("{}\n", key.api_key))?,
            }
            let expires =
                key.expires_at.as_ref().map_or_else(|| "never expires".to_owned(), |t| format!("expires {t}"));
            let _ = writeln!(
                std::io::stderr(),
                "API key {} for {principal} ({expires}): shown this once, store it now; the broker keeps only its hash",
                key.key_id
            );
            Ok(())
        }
        KeyCommand::List { principal, api } => {
            let path = ["v1", "principals", &principal, "keys"];
            Session::new(&api)?.show::<KeyList>(Method::GET, &path, None, render::keys).await
        }
        KeyCommand::Revoke { principal, key_id, api } => {
            let done = format!("revoked key {key_id} of {principal}");
            Session::new(&api)?.act(Method::DELETE, &["v1", "principals", &principal, "keys", &key_id], done).await
        }
    }
}

async fn grants(command: GrantsCommand) -> Result<(), CliError> {
    match command {
        GrantsCommand::List { principal, api } => {
            let path = ["v1", "principals", &principal, "grants"];
            Session::new(&api)?.show::<GrantList>(Method::GET, &path, None, render::grants).await
        }
        GrantsCommand::Put { principal, pattern, api } => {
            let done = format!("granted {pattern} to {principal}");
            Session::new(&api)?.act(Method::PUT, &["v1", "principals", &principal, "grants", &pattern], done).await
        }
        GrantsCommand::Delete { principal, pattern, api } => {
            let done = format!("removed grant {pattern} from {principal}");
            Session::new(&api)?.act(Method::DELETE, &["v1", "principals", &principal, "grants", &pattern], done).await
        }
    }
}

fn encode(body: &impl serde::Serialize) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec(body).map_err(|e| CliError::Input(format!("cannot encode the request: {e}")))
}

fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(stdout_failed)
}

/// The body byte for byte, ended with a newline for the shell.
fn print_raw(body: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let newline: &[u8] = if body.ends_with(b"\n") { b"" } else { b"\n" };
    out.write_all(body).and_then(|()| out.write_all(newline)).and_then(|()| out.flush()).map_err(stdout_failed)
}

fn stdout_failed(e: std::io::Error) -> CliError {
    CliError::Input(format!("cannot write to stdout: {e}"))
}
