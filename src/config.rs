//! Settings: one typed struct per command, from flags and environment variables.
//! Nothing secret has a default, and no settings struct prints a secret in Debug.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use secrecy::SecretString;

#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded, one process; the default) or `postgres://USER@HOST:PORT/DB`
    /// (replicas).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tokenbroker.db", hide_env_values = true)]
    pub database_url: SecretString,
    /// Largest number of database connections this process opens.
    #[arg(long, env = "TOKENBROKER_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}

#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Comma-separated `ID:BASE64(32 bytes)`; the first encrypts, all decrypt.
    #[arg(long, env = "TOKENBROKER_MASTER_KEYS", hide_env_values = true)]
    pub master_keys: Option<SecretString>,
    /// A file holding the same list.
    #[arg(long, env = "TOKENBROKER_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// `json` or `text`. The filter comes from RUST_LOG (default `info`).
    #[arg(long, env = "TOKENBROKER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to serve on (`127.0.0.1:0` picks a free port, logged as `listening`).
    #[arg(long, env = "TOKENBROKER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Ensures a principal `admin` (role admin) that this API key (at least 32 characters) authenticates.
    #[arg(long, env = "TOKENBROKER_BOOTSTRAP_ADMIN_KEY", hide_env_values = true)]
    pub bootstrap_admin_key: Option<SecretString>,
    /// Let vendor URLs be `http://` and loopback/private addresses (development and tests only).
    #[arg(long, env = "TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_insecure_vendor_urls: bool,
    /// Total time allowed for one vendor token call, in milliseconds.
    #[arg(long, env = "TOKENBROKER_VENDOR_TIMEOUT_MS", default_value_t = 10_000)]
    pub vendor_timeout_ms: u64,
    /// Time allowed to connect to a vendor, in milliseconds.
    #[arg(long, env = "TOKENBROKER_VENDOR_CONNECT_TIMEOUT_MS", default_value_t = 3_000)]
    pub vendor_connect_timeout_ms: u64,
    /// Longest backoff between vendor calls of a failing connection, in milliseconds (at least 1000).
    #[arg(long, env = "TOKENBROKER_VENDOR_BACKOFF_MAX_MS", default_value_t = 60_000)]
    pub vendor_backoff_max_ms: u64,
    /// Time allowed for one API request, in milliseconds (must exceed the vendor timeout).
    #[arg(long, env = "TOKENBROKER_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Refresh a recently used connection's token when less than this many seconds are left
    /// (or half its lifetime, if shorter); 0 turns refresh-ahead off.
    #[arg(long, env = "TOKENBROKER_REFRESH_AHEAD_SECS", default_value_t = 120)]
    pub refresh_ahead_secs: u64,
    /// Use (rotate) a refresh token that ends within this many seconds, even if nobody asks.
    #[arg(long, env = "TOKENBROKER_ROTATE_REFRESH_TOKENS_BEFORE_SECS", default_value_t = 86_400)]
    pub rotate_refresh_tokens_before_secs: u64,
    /// How often each replica looks for connections to refresh ahead, in milliseconds.
    #[arg(long, env = "TOKENBROKER_REFRESH_AHEAD_INTERVAL_MS", default_value_t = 5_000)]
    pub refresh_ahead_interval_ms: u64,
    /// How long an in-memory key, grant or token is trusted without re-reading the database,
    /// in milliseconds (at most 5000: the bound for a revocation to reach every replica).
    /// Change notifications usually evict sooner.
    #[arg(long, env = "TOKENBROKER_CACHE_TTL_MS", default_value_t = 5_000)]
    pub cache_ttl_ms: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TOKENBROKER_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Requests per second each principal may make to this replica (every authenticated
    /// `/v1` request counts); 0 turns the limit off.
    #[arg(long, env = "TOKENBROKER_RATE_LIMIT_PER_SECOND", default_value_t = 100)]
    pub rate_limit_per_second: u32,
    /// Requests a principal may make at once before the per-second rate applies.
    #[arg(long, env = "TOKENBROKER_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
    /// Failed authentications per second from one source address (an IPv6 /64) to this
    /// replica; 0 turns the limit off.
    #[arg(long, env = "TOKENBROKER_RATE_LIMIT_AUTH_FAILURES_PER_SECOND", default_value_t = 5)]
    pub rate_limit_auth_failures_per_second: u32,
    /// Failed authentications one source may make at once before the per-second rate applies.
    #[arg(long, env = "TOKENBROKER_RATE_LIMIT_AUTH_FAILURES_BURST", default_value_t = 20)]
    pub rate_limit_auth_failures_burst: u32,
    /// Vendor refreshes callers may cause per connection per minute, on this replica (a forced
    /// refresh by an admin and refresh-ahead are not counted); 0 turns the limit off.
    #[arg(long, env = "TOKENBROKER_REFRESH_RATE_LIMIT_PER_MINUTE", default_value_t = 60)]
    pub refresh_rate_limit_per_minute: u32,
    /// Refreshes one connection may take at once before the per-minute rate applies.
    #[arg(long, env = "TOKENBROKER_REFRESH_RATE_LIMIT_BURST", default_value_t = 20)]
    pub refresh_rate_limit_burst: u32,
    /// A rejected token reported when it is younger than this many seconds is not replaced
    /// (429 with Retry-After): a looping caller cannot turn reports into vendor calls.
    #[arg(long, env = "TOKENBROKER_REJECTED_TOKEN_MIN_AGE_SECS", default_value_t = 10)]
    pub rejected_token_min_age_secs: u64,
}

/// How the HTTP listener treats connections: TLS and the limits that bound what idle or slow
/// clients can hold.
#[derive(Args, Debug, Clone)]
pub struct ListenerArgs {
    /// PEM certificate chain to serve HTTPS with (with `TOKENBROKER_TLS_KEY_FILE`); re-read
    /// when the file changes.
    #[arg(long, env = "TOKENBROKER_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, env = "TOKENBROKER_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificate(s): when set, every client must present a certificate they signed.
    #[arg(long, env = "TOKENBROKER_TLS_CLIENT_CA_FILE", requires = "tls_cert_file")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Close a keep-alive connection that has been idle this long, in milliseconds.
    #[arg(long, env = "TOKENBROKER_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Close a connection whose request headers (or TLS handshake) take longer than this from
    /// their first byte, in milliseconds.
    #[arg(long, env = "TOKENBROKER_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// Most connections open at once; further ones wait in the listen backlog until one closes.
    #[arg(long, env = "TOKENBROKER_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
}

/// Limits on talking to vendors, validated once at start.
#[derive(Debug, Clone, Copy)]
pub struct VendorLimits {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub allow_insecure_urls: bool,
    /// Longest wait between vendor calls of a failing connection.
    pub backoff_max: Duration,
}

impl ServeArgs {
    pub fn vendor_limits(&self) -> anyhow::Result<VendorLimits> {
        if self.vendor_timeout_ms == 0 || self.vendor_connect_timeout_ms == 0 {
            bail!("TOKENBROKER_VENDOR_TIMEOUT_MS and TOKENBROKER_VENDOR_CONNECT_TIMEOUT_MS must be positive");
        }
        if self.request_timeout_ms <= self.vendor_timeout_ms {
            bail!(
                "TOKENBROKER_REQUEST_TIMEOUT_MS must be larger than TOKENBROKER_VENDOR_TIMEOUT_MS, so a vendor call can finish inside a request"
            );
        }
        Ok(VendorLimits {
            connect_timeout: Duration::from_millis(self.vendor_connect_timeout_ms),
            total_timeout: Duration::from_millis(self.vendor_timeout_ms),
            allow_insecure_urls: self.allow_insecure_vendor_urls,
            // Between a second and a day: longer would only hide a fixed vendor.
            backoff_max: Duration::from_millis(self.vendor_backoff_max_ms.clamp(1_000, 86_400_000)),
        })
    }
}

impl ServeArgs {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms.min(5_000))
    }
}

#[derive(Args, Debug, Clone)]
pub struct CopyArgs {
    /// The empty database to copy into, e.g. `postgres://USER@HOST:PORT/DB`.
    #[arg(long, hide_env_values = true)]
    pub to: SecretString,
}
