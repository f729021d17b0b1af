//! A generic OAuth 2.0 authorization server (client credentials) that is strict the way real
//! ones are: it accepts exactly one body format and one client authentication method, and
//! refuses the others, so a broker that ignores `body_format` / `client_auth` fails here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::Fault;
use super::vendor::{SharedVendor, TokenStyle, VendorState, content_type, form_pairs, oauth_error, serve};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Form,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Body,
    Basic,
}

/// How `expires_in` is written in the answer (vendors.md: number, numeric string, or absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiresIn {
    Number,
    String,
    Absent,
}

#[derive(Clone, Debug)]
pub struct OAuth2Options {
    pub body_format: BodyFormat,
    pub client_auth: ClientAuth,
    pub scope: Option<String>,
    pub audience: Option<String>,
    /// Parameters the server insists on, configured on the broker as `extra_params`.
    pub extra_params: Vec<(String, String)>,
    pub token_type: &'static str,
    pub expires_in: ExpiresIn,
    pub token_style: TokenStyle,
}

impl Default for OAuth2Options {
    fn default() -> Self {
        OAuth2Options {
            body_format: BodyFormat::Form,
            client_auth: ClientAuth::Body,
            scope: None,
            audience: None,
            extra_params: Vec::new(),
            token_type: "Bearer",
            expires_in: ExpiresIn::Number,
            token_style: TokenStyle::Opaque,
        }
    }
}

struct Server {
    vendor: SharedVendor,
    options: OAuth2Options,
}

pub struct FakeOAuth2 {
    state: SharedVendor,
    pub options: OAuth2Options,
    pub addr: SocketAddr,
}

impl Deref for FakeOAuth2 {
    type Target = VendorState;
    fn deref(&self) -> &VendorState {
        &self.state
    }
}

impl FakeOAuth2 {
    pub async fn start(options: OAuth2Options) -> FakeOAuth2 {
        let state = Arc::new(VendorState::new("oauth2", options.token_style));
        let server = Arc::new(Server { vendor: Arc::clone(&state), options: options.clone() });
        let router = Router::new().route("/token", post(token)).with_state(server);
        FakeOAuth2 { state, options, addr: serve(router).await }
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The broker-side `config` that matches this server's requirements.
    pub fn config(&self) -> Value {
        let mut config = Map::new();
        config.insert("token_url".into(), self.token_url().into());
        config.insert("grant_type".into(), "client_credentials".into());
        config.insert("client_id".into(), self.client_id().into());
        config.insert(
            "client_auth".into(),
            match self.options.client_auth {
                ClientAuth::Body => "body",
                ClientAuth::Basic => "basic",
            }
            .into(),
        );
        config.insert(
            "body_format".into(),
            match self.options.body_format {
                BodyFormat::Form => "form",
                BodyFormat::Json => "json",
            }
            .into(),
        );
        if let Some(scope) = &self.options.scope {
            config.insert("scope".into(), scope.clone().into());
        }
        if let Some(audience) = &self.options.audience {
            config.insert("audience".into(), audience.clone().into());
        }
        if !self.options.extra_params.is_empty() {
            let extra: Map<String, Value> =
                self.options.extra_params.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
            config.insert("extra_params".into(), Value::Object(extra));
        }
        Value::Object(config)
    }

    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "oauth2",
            "description": "generic OAuth 2.0 (fake)",
            "config": self.config(),
            "secrets": {"client_secret": self.client_secret()},
        })
    }
}

fn invalid_client(description: &str) -> Response {
    let mut resp = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"fake\""));
    resp
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
        pairs.into_iter().next().map(|(_, v)| v)
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// The request parameters, if the body is in the format this server accepts; else why not.
fn params_of(format: BodyFormat, headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, &'static str> {
    let ct = content_type(headers);
    match format {
        BodyFormat::Form => {
            if !ct.starts_with("application/x-www-form-urlencoded") {
                return Err("expected application/x-www-form-urlencoded");
            }
            form_pairs(body).map(|pairs| pairs.into_iter().collect()).ok_or("malformed form body")
        }
        BodyFormat::Json => {
            if !ct.starts_with("application/json") {
                return Err("expected application/json");
            }
            let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
                return Err("expected a JSON object");
            };
            Ok(map
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect())
        }
    }
}

async fn token(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let vendor = &server.vendor;
    let options = &server.options;
    let fault = vendor.begin().await;

    let params = match params_of(options.body_format, &headers, &body) {
        Ok(p) => p,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }

    let has_basic = headers.contains_key(header::AUTHORIZATION);
    let (id, secret) = match options.client_auth {
        ClientAuth::Basic => {
            if params.contains_key("client_secret") {
                return invalid_client("client credentials must be sent with HTTP Basic only");
            }
            match basic_credentials(&headers) {
                Some(creds) => creds,
                None => return invalid_client("HTTP Basic client authentication required"),
            }
        }
        ClientAuth::Body => {
            if has_basic {
                return invalid_client("client credentials must be sent in the body only");
            }
            (
                params.get("client_id").cloned().unwrap_or_default(),
                params.get("client_secret").cloned().unwrap_or_default(),
            )
        }
    };
    if !vendor.credentials_match(&id, &secret) {
        return invalid_client("client authentication failed");
    }

    let mut required: Vec<(String, String)> = options.extra_params.clone();
    if let Some(scope) = &options.scope {
        required.push(("scope".into(), scope.clone()));
    }
    if let Some(audience) = &options.audience {
        required.push(("audience".into(), audience.clone()));
    }
    for (name, value) in &required {
        if params.get(name) != Some(value) {
            let error = if name == "scope" { "invalid_scope" } else { "invalid_request" };
            return oauth_error(StatusCode::BAD_REQUEST, error, &format!("parameter {name} missing or wrong"));
        }
    }

    if fault == Fault::Reject {
        // Like Microsoft's identity platform, the description echoes what it was sent: the
        // broker must surface the error code and never this text.
        return invalid_client(&format!("AADSTS7000215: Invalid client secret provided. Secret received: '{secret}'."));
    }
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }

    let (access_token, expires_in) = vendor.mint();
    let mut answer = Map::new();
    answer.insert("access_token".into(), access_token.into());
    answer.insert("token_type".into(), options.token_type.into());
    match options.expires_in {
        ExpiresIn::Number => {
            answer.insert("expires_in".into(), expires_in.into());
        }
        ExpiresIn::String => {
            answer.insert("expires_in".into(), expires_in.to_string().into());
        }
        ExpiresIn::Absent => {}
    }
    axum::Json(Value::Object(answer)).into_response()
}
