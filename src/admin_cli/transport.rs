//! Why no HTTP answer came, in plain words: refused, unresolvable host, TLS, timeout. Told
//! apart by error types (and a DNS look-up of our own), never by matching error text.

use std::error::Error as _;
use std::time::Duration;

use reqwest::Url;

use super::client::shown;
use super::error::CliError;

pub async fn describe(url: &Url, err: &reqwest::Error) -> CliError {
    let url_text = shown(url);
    if let Some(tls) = find_tls(err) {
        return CliError::Tls { url: url_text, reason: tls.to_string() };
    }
    if err.is_timeout() {
        return CliError::Unreachable { url: url_text, reason: "no answer in time (timed out)".into() };
    }
    if err.is_connect() {
        if let Some(reason) = unresolvable(url).await {
            let host = url.host_str().unwrap_or_default().to_owned();
            return CliError::Dns { host, url: url_text, reason };
        }
        if let Some(io) = find_io(err) {
            return CliError::Unreachable { url: url_text, reason: io_reason(io) };
        }
    }
    CliError::Unreachable { url: url_text, reason: chain(err) }
}

/// The look-up error when the URL's host does not resolve; `None` when it does (or is an address).
async fn unresolvable(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    if url.host().is_some_and(|h| !matches!(h, url::Host::Domain(_))) {
        return None;
    }
    let port = url.port_or_known_default()?;
    // Bounded: a resolver that hangs must not turn one failure into a second, longer one.
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addrs)) => addrs.next().is_none().then(|| "no addresses".to_owned()),
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("the look-up timed out".to_owned()),
    }
}

fn sources(err: &reqwest::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(err.source(), |e: &&(dyn std::error::Error + 'static)| (*e).source())
}

fn find_io(err: &reqwest::Error) -> Option<&std::io::Error> {
    sources(err).filter_map(|e| e.downcast_ref::<std::io::Error>()).last()
}

/// rustls' error, which reaches us inside `io::Error`s (whose `source` skips what they wrap).
fn find_tls(err: &reqwest::Error) -> Option<&rustls::Error> {
    sources(err).find_map(|mut e| {
        loop {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
        }
    })
}

fn io_reason(io: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match io.kind() {
        ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | HostUnreachable | NetworkUnreachable
        | AddrNotAvailable => io.kind().to_string(),
        _ => io.to_string(),
    }
}

/// reqwest's own message names the URL, which was given already without its credentials.
fn chain(err: &reqwest::Error) -> String {
    let causes: Vec<String> = sources(err).map(ToString::to_string).collect();
    if causes.is_empty() { "the request failed".to_owned() } else { causes.join(": ") }
}
