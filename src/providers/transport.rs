//! The HTTP side of vendor calls: which connection a request goes out on, which addresses it
//! may go to, and what a failure means for the credential it carried.
//!
//! A single-use refresh token must never be lost to a socket the vendor already closed: a
//! pooled keep-alive connection can be closed by the server at the moment we send on it, and
//! then nobody can tell whether the vendor read the request. So single-use exchanges go out on
//! a connection of their own (a failure to connect means "never sent"; anything after that
//! follows the in-doubt rules), and pooled connections are retired after a second idle, before
//! the keep-alive timeouts servers commonly use (2 s and up), so repeatable requests rarely meet
//! one either; when they do, they are retried once on a fresh connection.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::address::{is_non_public, is_non_public_name};
use super::error::{Cause, Endpoint, VendorError};
use crate::config::VendorLimits;

/// Shorter than any common server keep-alive timeout (Gunicorn 2 s, Node and Apache 5 s).
const POOL_IDLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Carries a single-use credential: a connection of its own, never retried.
    Once,
    /// May be repeated (a new assertion, the same client secret): a pooled connection, and one
    /// retry on a fresh connection after a transport failure that is not a timeout.
    Repeatable,
}

#[derive(Clone)]
pub struct Transport {
    pooled: reqwest::Client,
    fresh: reqwest::Client,
}

impl Transport {
    pub fn new(limits: &VendorLimits) -> anyhow::Result<Self> {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(limits.connect_timeout)
                .timeout(limits.total_timeout)
                // Never follow a redirect with credentials in the body.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("tokenbroker/", env!("CARGO_PKG_VERSION")))
                .dns_resolver(Arc::new(GuardedResolver { allow_non_public: limits.allow_insecure_urls }))
        };
        Ok(Self {
            pooled: builder().pool_idle_timeout(POOL_IDLE).build()?,
            fresh: builder().pool_max_idle_per_host(0).build()?,
        })
    }

    /// Sends the request `build` makes (called again for a retry, so signed assertions are
    /// fresh) and returns the response, or the failure with what it means for the credential.
    pub async fn send<F>(
        &self,
        delivery: Delivery,
        endpoint: &Endpoint,
        build: F,
    ) -> Result<reqwest::Response, VendorError>
    where
        F: Fn(&reqwest::Client) -> Result<reqwest::RequestBuilder, VendorError>,
    {
        let first = match delivery {
            Delivery::Once => &self.fresh,
            Delivery::Repeatable => &self.pooled,
        };
        match build(first)?.send().await {
            Ok(response) => Ok(response),
            Err(err) => {
                let (cause, maybe_received) = classify(&err);
                if delivery == Delivery::Repeatable
                    && !matches!(cause, Cause::Timeout | Cause::NonPublicAddress | Cause::Dns)
                {
                    tracing::debug!(endpoint = %endpoint, cause = ?cause, "vendor request failed; retrying once on a new connection");
                    return build(&self.fresh)?.send().await.map_err(|err| {
                        let (cause, maybe_received) = classify(&err);
                        VendorError::transport(endpoint.clone(), cause, maybe_received)
                    });
                }
                Err(VendorError::transport(endpoint.clone(), cause, maybe_received))
            }
        }
    }
}

/// What kind of failure a reqwest error is, and whether the request may have reached the
/// vendor (anything but a failure to connect may have).
pub fn classify(err: &reqwest::Error) -> (Cause, bool) {
    let maybe_received = !err.is_connect();
    if err.is_timeout() {
        return (Cause::Timeout, maybe_received);
    }
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(current) = source {
        if let Some(resolve) = current.downcast_ref::<ResolveError>() {
            return (resolve.0, false);
        }
        if current.downcast_ref::<rustls::Error>().is_some() {
            return (Cause::Tls, maybe_received);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) {
                return (Cause::Tls, maybe_received);
            }
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return (Cause::Refused, maybe_received),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return (Cause::Reset, maybe_received);
                }
                TimedOut => return (Cause::Timeout, maybe_received),
                _ => {}
            }
        }
        if let Some(hyper) = current.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled())
        {
            return (Cause::Reset, maybe_received);
        }
        source = current.source();
    }
    (Cause::Connection, maybe_received)
}

/// Resolution failed, or found no address the broker may use.
#[derive(Debug)]
struct ResolveError(Cause);

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Cause::NonPublicAddress => f.write_str("the name resolves only to non-public addresses"),
            _ => f.write_str("the name did not resolve"),
        }
    }
}

impl StdError for ResolveError {}

/// Resolves vendor host names and drops every non-public address, at connect time: a name
/// that resolves (or re-resolves, DNS rebinding) to loopback, a private network or a metadata
/// service is never connected to, whatever the config said when it was checked.
struct GuardedResolver {
    allow_non_public: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_non_public;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if !allow && is_non_public_name(&host) {
                return Err(Box::new(ResolveError(Cause::NonPublicAddress)) as Box<dyn StdError + Send + Sync>);
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(ResolveError(Cause::Dns)) as Box<dyn StdError + Send + Sync>)?
                .collect();
            let usable: Vec<SocketAddr> = found.iter().copied().filter(|a| allow || !is_non_public(a.ip())).collect();
            if usable.is_empty() {
                let cause = if found.is_empty() { Cause::Dns } else { Cause::NonPublicAddress };
                return Err(Box::new(ResolveError(cause)) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
