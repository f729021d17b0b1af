//! What can go wrong calling a vendor, said so that an operator can act on it: which endpoint
//! (scheme, host, port and path; never a query string, never a credential), what kind of
//! failure (DNS, refused, TLS, timeout, reset, an HTTP status), and the vendor's own error code.
//! Never a response body or a secret: vendor error texts can echo what was sent.

use std::fmt;
use std::time::Duration;

use thiserror::Error;
use url::Url;

/// A vendor URL reduced to what may be shown: `https://login.example.com:8443/oauth2/token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    pub fn of(url: &Url) -> Self {
        let host = url.host_str().unwrap_or("?");
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Self(format!("{}://{host}{port}{}", url.scheme(), url.path()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a request never got an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The name did not resolve.
    Dns,
    /// The name resolves only to loopback, private or other non-public addresses.
    NonPublicAddress,
    Refused,
    Tls,
    Timeout,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// Any other failure to connect or to exchange.
    Connection,
}

impl Cause {
    fn describe(self) -> &'static str {
        match self {
            Cause::Dns => "DNS lookup failed",
            Cause::NonPublicAddress => {
                "the host resolves only to non-public addresses (TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS is false)"
            }
            Cause::Refused => "connection refused",
            Cause::Tls => "TLS handshake failed",
            Cause::Timeout => "timed out",
            Cause::Reset => "connection reset or closed by the vendor",
            Cause::Connection => "connection failed",
        }
    }
}

/// How a vendor call failed without an HTTP answer that could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    Transport(Cause),
    /// An HTTP status that means "try later": 5xx or 429.
    Status(u16),
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreachable::Transport(cause) => f.write_str(cause.describe()),
            Unreachable::Status(status) => write!(f, "answered http {status}"),
        }
    }
}

#[derive(Debug, Error)]
pub enum VendorError {
    /// The vendor refused the credentials or the grant.
    #[error("{endpoint} refused the request: {code}")]
    Rejected { endpoint: Endpoint, status: u16, code: String },
    /// The vendor refused a refresh token (`invalid_grant`): it is spent or revoked.
    #[error("{endpoint} refused the grant: http {status}, invalid_grant")]
    InvalidGrant { endpoint: Endpoint, status: u16 },
    #[error(
        "{endpoint} answered something that is not a token response: http {status}, content-type {content_type:?}: {reason}"
    )]
    BadResponse { endpoint: Endpoint, status: u16, content_type: String, reason: &'static str },
    /// Timeout, connection failure, 5xx or 429. `maybe_received`: the request may have reached
    /// the vendor, so a single-use refresh token in it must be treated as spent. `retry_after`:
    /// what the vendor asked for, if it said (429/503 `Retry-After`).
    #[error("{endpoint} is unavailable: {why}")]
    Unavailable { endpoint: Endpoint, why: Unreachable, retry_after: Option<Duration>, maybe_received: bool },
    /// The connection's stored config or secrets cannot make this request.
    #[error("connection cannot call its vendor: {0}")]
    Config(String),
}

impl VendorError {
    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Rejected { .. } | Self::InvalidGrant { .. } | Self::Config(_) => "vendor_rejected",
            Self::BadResponse { .. } => "vendor_bad_response",
            Self::Unavailable { .. } => "vendor_unavailable",
        }
    }

    /// What a caller, the log and the connection's `last_error` are told: the endpoint, the
    /// cause or status, and the vendor's error code. Safe to show: built only from those.
    pub fn detail(&self) -> String {
        self.to_string()
    }

    /// A transport failure: no HTTP answer was read.
    pub fn transport(endpoint: Endpoint, cause: Cause, maybe_received: bool) -> Self {
        Self::Unavailable { endpoint, why: Unreachable::Transport(cause), retry_after: None, maybe_received }
    }
}
