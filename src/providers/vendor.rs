//! The one engine that executes a [`Plan`] against a vendor's token endpoint.

use std::time::Duration as StdDuration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, RETRY_AFTER, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use zeroize::Zeroizing;

use super::error::{Endpoint, Unreachable, VendorError};
use super::jwt::{CLIENT_ASSERTION_TYPE, KeySource, sign_assertion, sign_client_assertion};
use super::plan::{BodyFormat, ClientAuth, Grant, Plan};
use super::response::{TokenGrant, error_code, parse_token_body};
use super::transport::{Delivery, Transport, classify};
use crate::config::VendorLimits;
use crate::secret::SecretMap;

/// Largest token response read; anything bigger is not a token response.
const MAX_BODY: usize = 256 * 1024;

/// Which request to make.
pub enum Step<'a> {
    /// The plan's primary grant (client credentials, password, assertion).
    Primary(&'a Grant),
    /// Use a refresh token, sending back captured cookies when the plan says so.
    Refresh { token: &'a SecretString, cookies: &'a [(String, SecretString)] },
}

#[derive(Clone)]
pub struct VendorClient {
    transport: Transport,
}

/// One request, described before any credential is put into it.
struct Call<'a> {
    url: &'a Url,
    body_format: BodyFormat,
    with_client_auth: bool,
    delivery: Delivery,
    step_name: &'static str,
}

impl VendorClient {
    pub fn new(limits: &VendorLimits) -> anyhow::Result<Self> {
        Ok(Self { transport: Transport::new(limits)? })
    }

    pub async fn request(&self, plan: &Plan, secrets: &SecretMap, step: Step<'_>) -> Result<TokenGrant, VendorError> {
        let call = match &step {
            Step::Primary(_) => Call {
                url: &plan.token_url,
                body_format: plan.body,
                with_client_auth: true,
                delivery: Delivery::Repeatable,
                step_name: "primary",
            },
            Step::Refresh { .. } => {
                let refresh = plan.refresh.as_ref().ok_or_else(|| VendorError::Config("no refresh step".into()))?;
                Call {
                    url: &refresh.url,
                    body_format: refresh.body,
                    with_client_auth: refresh.client_auth,
                    // A single-use refresh token goes out once, on a connection of its own.
                    delivery: if plan.rotating_refresh_tokens { Delivery::Once } else { Delivery::Repeatable },
                    step_name: "refresh",
                }
            }
        };
        let endpoint = Endpoint::of(call.url);
        let started = std::time::Instant::now();
        // Lifetimes count from when the request left: the vendor's clock started no later, so a
        // token is never thought to live longer than it does by the round trip.
        let sent_at = Utc::now();
        let content_type = match call.body_format {
            BodyFormat::Form => "application/x-www-form-urlencoded",
            BodyFormat::Json => "application/json",
        };
        // Built anew for each attempt, so a retried request carries a fresh assertion and `jti`.
        let build = |client: &reqwest::Client| -> Result<reqwest::RequestBuilder, VendorError> {
            let (headers, body) = prepare(plan, secrets, &step, call.url, call.body_format, call.with_client_auth)?;
            Ok(client
                .post(call.url.clone())
                .headers(headers)
                .header(CONTENT_TYPE, content_type)
                .header(reqwest::header::ACCEPT, "application/json")
                // The body holds credentials: the buffer reqwest sends from is wiped when dropped.
                .body(reqwest::Body::from(bytes::Bytes::from_owner(body))))
        };
        let result = match self.transport.send(call.delivery, &endpoint, build).await {
            Ok(response) => read_response(response, plan, &endpoint, sent_at).await,
            Err(err) => Err(err),
        };
        let outcome = match &result {
            Ok(_) => "success",
            // A refused refresh token is told apart: the engine falls back to the primary grant.
            Err(VendorError::InvalidGrant { .. }) => "invalid_grant",
            Err(e) => e.code(),
        };
        metrics::counter!("tokenbroker_vendor_requests_total", "step" => call.step_name, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("tokenbroker_vendor_request_duration_seconds", "step" => call.step_name)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

/// The request's headers and body, credentials included, in buffers wiped when dropped.
pub(crate) fn prepare(
    plan: &Plan,
    secrets: &SecretMap,
    step: &Step<'_>,
    url: &Url,
    body_format: BodyFormat,
    with_client_auth: bool,
) -> Result<(HeaderMap, Zeroizing<Vec<u8>>), VendorError> {
    let now = Utc::now();
    let mut params: Vec<(&str, Zeroizing<String>)> = Vec::new();
    let param = |v: &str| Zeroizing::new(v.to_owned());
    match step {
        Step::Primary(grant) => {
            match grant {
                Grant::ClientCredentials => params.push(("grant_type", param("client_credentials"))),
                Grant::Password { username } => {
                    params.push(("grant_type", param("password")));
                    params.push(("username", param(username)));
                    params.push(("password", param(required(secrets, "password")?)));
                }
                Grant::JwtBearer(jwt) => {
                    params.push(("grant_type", param("urn:ietf:params:oauth:grant-type:jwt-bearer")));
                    params.push(("assertion", sign_assertion(jwt, secrets, now)?));
                }
            }
            if let Some(scope) = &plan.scope {
                params.push(("scope", param(scope)));
            }
            if let Some(audience) = &plan.audience {
                params.push(("audience", param(audience)));
            }
        }
        Step::Refresh { token, .. } => {
            let refresh = plan.refresh.as_ref().ok_or_else(|| VendorError::Config("no refresh step".into()))?;
            if let Some(grant_type) = &refresh.grant_type {
                params.push(("grant_type", param(grant_type)));
            }
            params.push((refresh.token_param.as_str(), param(token.expose_secret())));
        }
    }
    for (name, value) in &plan.extra_params {
        params.push((name.as_str(), param(value)));
    }
    let mut headers = HeaderMap::new();
    if with_client_auth {
        client_auth(plan, secrets, url, now, &mut params, &mut headers)?;
    }
    if let Step::Refresh { cookies, .. } = step
        && plan.refresh.as_ref().is_some_and(|r| r.send_cookies)
        && !cookies.is_empty()
    {
        let mut joined = Zeroizing::new(String::new());
        for (name, value) in cookies.iter() {
            if !joined.is_empty() {
                joined.push_str("; ");
            }
            joined.push_str(name);
            joined.push('=');
            joined.push_str(value.expose_secret());
        }
        headers.insert(COOKIE, sensitive(&joined)?);
    }
    Ok((headers, encode(body_format, &params)?))
}

fn required<'a>(secrets: &'a SecretMap, name: &str) -> Result<&'a str, VendorError> {
    secrets.expose(name).ok_or_else(|| VendorError::Config(format!("secret {name} is not set")))
}

fn client_auth(
    plan: &Plan,
    secrets: &SecretMap,
    url: &Url,
    now: DateTime<Utc>,
    params: &mut Vec<(&str, Zeroizing<String>)>,
    headers: &mut HeaderMap,
) -> Result<(), VendorError> {
    let id = plan.client_id.as_deref().unwrap_or_default();
    let assertion = |assertion, source| -> Result<[(&'static str, Zeroizing<String>); 3], VendorError> {
        // The audience is the endpoint this request goes to, without query or fragment.
        let mut audience = url.clone();
        audience.set_query(None);
        audience.set_fragment(None);
        let jwt = sign_client_assertion(assertion, source, id, audience.as_str(), secrets, now)?;
        Ok([
            ("client_id", Zeroizing::new(id.to_owned())),
            ("client_assertion_type", Zeroizing::new(CLIENT_ASSERTION_TYPE.to_owned())),
            ("client_assertion", jwt),
        ])
    };
    match &plan.client_auth {
        ClientAuth::None => {}
        ClientAuth::Body => {
            params.push(("client_id", Zeroizing::new(id.to_owned())));
            params.push(("client_secret", Zeroizing::new(required(secrets, "client_secret")?.to_owned())));
        }
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: both parts form-encoded before joining.
            let secret = required(secrets, "client_secret")?;
            let pair = Zeroizing::new(format!("{}:{}", form_encode(id).as_str(), form_encode(secret).as_str()));
            let value = Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes())));
            headers.insert(AUTHORIZATION, sensitive(&value)?);
        }
        ClientAuth::SecretJwt(plan) => params.extend(assertion(plan, KeySource::ClientSecret)?),
        ClientAuth::PrivateKeyJwt(plan) => params.extend(assertion(plan, KeySource::PrivateKey(plan.alg))?),
    }
    Ok(())
}

fn form_encode(s: &str) -> Zeroizing<String> {
    Zeroizing::new(url::form_urlencoded::byte_serialize(s.as_bytes()).collect())
}

fn sensitive(value: &str) -> Result<reqwest::header::HeaderValue, VendorError> {
    let mut v = reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| VendorError::Config("a credential cannot be sent as an HTTP header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The request body, written straight into one buffer that is wiped when dropped. It is sized
/// for the worst case up front (every byte escaped), so it never reallocates and leaves no
/// unwiped copy of a credential behind.
fn encode(format: BodyFormat, params: &[(&str, Zeroizing<String>)]) -> Result<Zeroizing<Vec<u8>>, VendorError> {
    let worst: usize = params.iter().map(|(n, v)| 6 * (n.len() + v.len()) + 8).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(worst + 2));
    match format {
        BodyFormat::Form => {
            for (i, (name, value)) in params.iter().enumerate() {
                if i > 0 {
                    out.push(b'&');
                }
                url::form_urlencoded::byte_serialize(name.as_bytes())
                    .for_each(|part| out.extend_from_slice(part.as_bytes()));
                out.push(b'=');
                url::form_urlencoded::byte_serialize(value.as_bytes())
                    .for_each(|part| out.extend_from_slice(part.as_bytes()));
            }
        }
        BodyFormat::Json => {
            out.push(b'{');
            for (i, (name, value)) in params.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // serde_json escapes exactly as JSON requires, writing into our buffer.
                serde_json::to_writer(&mut *out, name).map_err(|e| VendorError::Config(e.to_string()))?;
                out.push(b':');
                serde_json::to_writer(&mut *out, value.as_str()).map_err(|e| VendorError::Config(e.to_string()))?;
            }
            out.push(b'}');
        }
    }
    Ok(out)
}

async fn read_response(
    mut response: reqwest::Response,
    plan: &Plan,
    endpoint: &Endpoint,
    now: DateTime<Utc>,
) -> Result<TokenGrant, VendorError> {
    let endpoint = endpoint.clone();
    let status = response.status();
    let head = Head::of(response.headers(), now);
    let mut body = Zeroizing::new(Vec::new());
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => body.extend_from_slice(&chunk),
            Ok(Some(_)) => {
                return Err(VendorError::BadResponse {
                    endpoint,
                    status: status.as_u16(),
                    content_type: head.content_type,
                    reason: "body too large",
                });
            }
            Ok(None) => break,
            Err(err) => {
                // The vendor answered, so the request was received, whatever broke after.
                let (cause, _) = classify(&err);
                return Err(VendorError::transport(endpoint, cause, true));
            }
        }
    }
    interpret(status, head, &body, plan, endpoint, now)
}

/// What is read from a vendor answer's headers before its body.
pub(crate) struct Head {
    content_type: String,
    retry_after: Option<StdDuration>,
    cookies: Vec<(String, SecretString)>,
}

impl Head {
    pub(crate) fn of(headers: &HeaderMap, now: DateTime<Utc>) -> Self {
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect::<String>();
        Self { content_type, retry_after: retry_after(headers, now), cookies: set_cookies(headers) }
    }
}

/// A whole vendor answer (status, headers, body) as a token grant or a typed error.
pub(crate) fn interpret(
    status: reqwest::StatusCode,
    head: Head,
    body: &[u8],
    plan: &Plan,
    endpoint: Endpoint,
    now: DateTime<Utc>,
) -> Result<TokenGrant, VendorError> {
    let Head { content_type, retry_after, cookies } = head;
    let code = status.as_u16();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(VendorError::Unavailable {
            endpoint,
            why: Unreachable::Status(code),
            retry_after,
            maybe_received: true,
        });
    }
    if status.is_client_error() {
        let vendor_code = error_code(body);
        if vendor_code.as_deref().is_some_and(|c| c.starts_with("invalid_grant")) {
            return Err(VendorError::InvalidGrant { endpoint, status: code });
        }
        let code_text = vendor_code.map_or_else(|| format!("http {code}"), |c| format!("http {code}: {c}"));
        return Err(VendorError::Rejected { endpoint, status: code, code: code_text });
    }
    if !status.is_success() {
        return Err(VendorError::BadResponse { endpoint, status: code, content_type, reason: "unexpected status" });
    }
    let mut grant = parse_token_body(body, now, plan.default_lifetime, plan.refresh_token_lifetime)
        .map_err(|reason| VendorError::BadResponse { endpoint, status: code, content_type, reason })?;
    grant.cookies = cookies;
    Ok(grant)
}

/// `Retry-After` as seconds or an HTTP date, capped at an hour.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<StdDuration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs = match value.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?;
            u64::try_from((at.with_timezone(&Utc) - now).num_seconds()).unwrap_or(0)
        }
    };
    Some(StdDuration::from_secs(secs.clamp(1, 3600)))
}

fn set_cookies(headers: &HeaderMap) -> Vec<(String, SecretString)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let pair = v.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name.to_owned(), SecretString::from(value.trim())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(&'static str, Zeroizing<String>)> {
        vec![
            ("grant_type", Zeroizing::new("client_credentials".to_owned())),
            ("client_secret", Zeroizing::new("s3cr&t=\"é\\n+ /".to_owned())),
        ]
    }

    #[test]
    fn form_and_json_bodies_are_encoded_into_one_buffer_that_never_grows() {
        let form = encode(BodyFormat::Form, &params()).unwrap();
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(&form).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(pairs[1], ("client_secret".to_owned(), "s3cr&t=\"é\\n+ /".to_owned()));
        let json = encode(BodyFormat::Json, &params()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["client_secret"], "s3cr&t=\"é\\n+ /");
        // Sized for the worst case: no reallocation ever left a copy of a secret behind.
        let worst: usize = params().iter().map(|(n, v)| 6 * (n.len() + v.len()) + 8).sum::<usize>() + 2;
        assert_eq!((form.capacity(), json.capacity()), (worst, worst));
    }
}
