//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz); not part of the broker's API.
//!
//! Each is a thin wrapper over a crate-internal step of the real code path, taking plain
//! values, so the targets exercise exactly what a vendor answer or a stored config goes
//! through without a network or a database.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::auth::Caller;
use crate::ids::{ConnectionId, GrantPattern, PrincipalId};
use crate::providers::error::Endpoint;
use crate::providers::vendor::{Head, Step, interpret, prepare};
use crate::providers::{Plan, TokenGrant, VendorError};
use crate::secret::SecretMap;

/// A vendor's answer to a token request, read as the vendor engine reads it: `None` when
/// `status` is not an HTTP status code. Headers that are not valid HTTP headers are left out,
/// as they could never arrive.
pub fn vendor_answer(
    plan: &Plan,
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
    now: DateTime<Utc>,
) -> Option<Result<TokenGrant, VendorError>> {
    let status = StatusCode::from_u16(status).ok()?;
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    let endpoint = Endpoint::of(&plan.token_url);
    Some(interpret(status, Head::of(&map, now), body, plan, endpoint, now))
}

/// A token request's headers (names and values) and body.
pub type Request = (Vec<(String, Vec<u8>)>, Zeroizing<Vec<u8>>);

/// The headers and body of a token request the vendor engine would send for `plan`: the
/// primary grant, or with `refresh` the refresh step with that token and cookies.
pub fn vendor_request(
    plan: &Plan,
    secrets: &SecretMap,
    refresh: Option<(&str, &[(&str, &str)])>,
) -> Result<Request, VendorError> {
    let token;
    let cookies: Vec<(String, SecretString)>;
    let (step, url, body_format, with_client_auth) = match refresh {
        None => {
            let grant = plan.primary.as_ref().ok_or_else(|| VendorError::Config("no primary grant".into()))?;
            (Step::Primary(grant), &plan.token_url, plan.body, true)
        }
        Some((refresh_token, jar)) => {
            let refresh = plan.refresh.as_ref().ok_or_else(|| VendorError::Config("no refresh step".into()))?;
            token = SecretString::from(refresh_token);
            cookies = jar.iter().map(|(n, v)| ((*n).to_owned(), SecretString::from(*v))).collect();
            (Step::Refresh { token: &token, cookies: &cookies }, &refresh.url, refresh.body, refresh.client_auth)
        }
    };
    let (headers, body) = prepare(plan, secrets, &step, url, body_format, with_client_auth)?;
    let headers = headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
    Ok((headers, body))
}

/// Whether a service principal holding `grants` may fetch `connection`'s token, decided as
/// for a real caller.
pub fn service_may_fetch(grants: Vec<GrantPattern>, connection: &ConnectionId) -> bool {
    let principal = PrincipalId::from_trusted("fuzz".to_owned());
    Caller::service(principal, grants).require_token_access(connection).is_ok()
}
