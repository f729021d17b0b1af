//! A `Plan` is one connection's recipe for talking to its vendor, resolved from provider +
//! config: every preset and the generic `oauth2` provider produce the same shape, and one
//! engine ([`super::vendor`]) executes it.

use std::net::IpAddr;

use chrono::Duration;
use serde_json::{Map, Value};
use url::Url;

use super::address::{is_non_public, is_non_public_name};
use crate::validation::ValidationErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Form,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as body parameters.
    Body,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    Basic,
    /// No client authentication (e.g. a signed assertion proves the client).
    None,
    /// An RFC 7523 client assertion signed HS256 with `client_secret` (`client_secret_jwt`).
    SecretJwt(AssertionPlan),
    /// An RFC 7523 client assertion signed with the `private_key` secret (`private_key_jwt`).
    PrivateKeyJwt(AssertionPlan),
}

/// How a client assertion is made. Its claims are fixed by RFC 7523 §3: `iss` = `sub` =
/// client id, `aud` = the endpoint it is sent to, a fresh `jti`, `iat`, and `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionPlan {
    /// `kid` header, for servers that pick the verification key by it.
    pub kid: Option<String>,
    /// `x5t` header (base64url SHA-1 certificate thumbprint), as Microsoft's identity platform wants.
    pub x5t: Option<String>,
    /// Signing algorithm for `private_key_jwt`; `None` picks RS256 for RSA keys, ES256 for EC keys.
    pub alg: Option<JwtAlg>,
    pub lifetime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    /// Signed with the `client_secret`.
    Hs256,
    /// Signed with the PEM `private_key` secret.
    Rs256,
    Ps256,
    Es256,
}

#[derive(Debug, Clone)]
pub struct JwtPlan {
    pub alg: JwtAlg,
    /// Claims besides `iat`/`exp` (and `jti`), already resolved from the config.
    pub claims: Map<String, Value>,
    pub lifetime: Duration,
}

#[derive(Debug, Clone)]
pub enum Grant {
    ClientCredentials,
    Password {
        username: String,
    },
    /// RFC 7523: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`.
    JwtBearer(JwtPlan),
}

impl Grant {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password { .. } => "password",
            Grant::JwtBearer(_) => "jwt_bearer",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RefreshPlan {
    pub url: Url,
    pub body: BodyFormat,
    /// `grant_type` value to send; `None` for vendors whose refresh endpoint takes none.
    pub grant_type: Option<String>,
    /// Name of the parameter carrying the refresh token.
    pub token_param: String,
    /// Whether the client credentials go along (per `Plan::client_auth`).
    pub client_auth: bool,
    /// Send back the cookies captured from the token responses.
    pub send_cookies: bool,
}

/// Where a handed-out header's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderSource {
    Static(String),
    /// The value of the named secret.
    Secret(String),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub token_url: Url,
    /// How to get a token from nothing; `None` when only a stored refresh token can.
    pub primary: Option<Grant>,
    pub body: BodyFormat,
    pub client_auth: ClientAuth,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub extra_params: Vec<(String, String)>,
    /// How to use a refresh token when the vendor hands one out.
    pub refresh: Option<RefreshPlan>,
    /// Refresh tokens are single-use: once sent, the old one is spent whatever happens.
    pub rotating_refresh_tokens: bool,
    /// How long a refresh token lives, when the vendor documents it (QBench: 7 days).
    pub refresh_token_lifetime: Option<Duration>,
    /// Headers handed out besides `Authorization`.
    pub headers: Vec<(String, HeaderSource)>,
    pub api_base_url: Option<String>,
    /// Lifetime assumed when neither `expires_in` nor a JWT `exp` says.
    pub default_lifetime: Duration,
}

impl Plan {
    /// Secrets that headers hand out; they count as known secrets of the connection.
    pub fn header_secrets(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().filter_map(|(_, source)| match source {
            HeaderSource::Secret(name) => Some(name.as_str()),
            HeaderSource::Static(_) => None,
        })
    }
}

/// Reads a connection's config while building its plan, collecting every problem.
pub struct ConfigReader<'a> {
    config: &'a Map<String, Value>,
    pub allow_insecure_urls: bool,
    pub errors: ValidationErrors,
}

impl<'a> ConfigReader<'a> {
    pub fn new(config: &'a Map<String, Value>, allow_insecure_urls: bool) -> Self {
        Self { config, allow_insecure_urls, errors: ValidationErrors::new() }
    }

    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.config.get(name).and_then(Value::as_str)
    }

    pub fn str_or(&self, name: &str, default: &'a str) -> &'a str {
        self.str(name).unwrap_or(default)
    }

    pub fn object(&self, name: &str) -> Option<&'a Map<String, Value>> {
        self.config.get(name).and_then(Value::as_object)
    }

    pub fn seconds(&self, name: &str) -> Option<i64> {
        self.config.get(name).and_then(Value::as_i64)
    }

    /// A required string that `check_config` already reported when missing.
    pub fn required(&self, name: &str) -> &'a str {
        self.str(name).unwrap_or_default()
    }

    /// A vendor URL: https (unless insecure URLs are allowed), with a host, without
    /// credentials, and not a loopback/private literal address unless allowed.
    pub fn url(&mut self, field: &str, value: &str) -> Option<Url> {
        match check_vendor_url(value, self.allow_insecure_urls) {
            Ok(url) => Some(url),
            Err(message) => {
                self.errors.add(format!("config.{field}"), message);
                None
            }
        }
    }

    /// An optional URL handed out to callers (`api_base_url`): held to the same rules.
    pub fn optional_url(&mut self, field: &str) -> Option<String> {
        let value = self.str(field)?;
        self.url(field, value).map(|_| value.to_owned())
    }

    /// A value placed into a URL path (tenant id…): no characters that would change the URL.
    pub fn path_segment(&mut self, field: &str, value: &str) -> bool {
        let ok =
            !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !ok {
            self.errors.add(format!("config.{field}"), "may only contain letters, digits, '-', '.', '_'");
        }
        ok
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(format!("config.{field}"), message);
    }
}

/// A value that can stand in an HTTP header as it is: printable text, no control characters
/// (so no CR/LF that would start another header), no surrounding whitespace.
pub fn is_header_value(value: &str) -> bool {
    !value.is_empty()
        && value.trim() == value
        && value.chars().all(|c| !c.is_control())
        && http::HeaderValue::from_str(value).is_ok()
}

pub fn check_vendor_url(value: &str, allow_insecure: bool) -> Result<Url, String> {
    // The URL parser silently drops tabs and newlines; a value handed out as `api_base_url`
    // must be exactly what was checked, so anything it would drop is refused instead.
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let url = Url::parse(value).map_err(|e| format!("not a valid URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return Err("must be https (TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS is false)".into()),
        _ => return Err("must be an https URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    let Some(host) = url.host() else {
        return Err("must have a host".into());
    };
    if !allow_insecure {
        let private = match host {
            url::Host::Domain(d) => is_non_public_name(d),
            url::Host::Ipv4(ip) => is_non_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_non_public(IpAddr::V6(ip)),
        };
        if private {
            return Err("must be a public address (TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS is false)".into());
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_urls_must_be_https_and_public_unless_allowed() {
        assert!(check_vendor_url("https://login.example.com/token", false).is_ok());
        for bad in [
            "http://login.example.com/token",
            "https://127.0.0.1/token",
            "https://10.1.2.3/token",
            "https://[::1]/token",
            "https://localhost/token",
            "https://169.254.169.254/latest",
            "https://localhost./token",
            "https://foo.localhost./token",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://[::127.0.0.1]/token",
            "https://[64:ff9b::a00:1]/token",
            "https://0.0.0.1/token",
            "https://198.18.0.1/token",
            "https://240.0.0.1/token",
            "https://224.0.0.1/token",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "not a url",
            "https://api.example.com/v1\r\nX-Injected: 1",
            "https://api.example.com/v1\t",
        ] {
            assert!(check_vendor_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_vendor_url("http://127.0.0.1:9999/token", true).is_ok());
    }
}
