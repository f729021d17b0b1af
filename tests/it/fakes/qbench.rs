//! QBench as its published documentation describes it: a self-signed HS256 assertion exchanged at
//! `/qbench/api/v2/auth/token`, then `/qbench/api/v2/auth/token/refresh` with the refresh token
//! as `refresh_token_id` and the `jid` cookie that came with it. Refresh tokens are single-use
//! and a reused one revokes its whole chain for good, as the docs warn.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Fault;
use super::vendor::{
    OnReuse, Redeemed, RefreshTokens, SharedVendor, TokenStyle, VendorState, content_type, form_pairs, oauth_error,
    serve,
};
use crate::harness::random;

const TOKEN_PATH: &str = "/qbench/api/v2/auth/token";
const REFRESH_PATH: &str = "/qbench/api/v2/auth/token/refresh";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

struct Server {
    vendor: SharedVendor,
    refresh_tokens: RefreshTokens,
    /// refresh token → the `jid` cookie set with it; a refresh must bring back the matching one.
    jids: Mutex<HashMap<String, String>>,
}

pub struct FakeQbench {
    server: Arc<Server>,
    pub addr: SocketAddr,
}

impl Deref for FakeQbench {
    type Target = VendorState;
    fn deref(&self) -> &VendorState {
        &self.server.vendor
    }
}

impl Drop for FakeQbench {
    fn drop(&mut self) {
        self.server.refresh_tokens.check_on_drop();
    }
}

impl FakeQbench {
    pub async fn start() -> FakeQbench {
        let server = Arc::new(Server {
            vendor: Arc::new(VendorState::new("qbench", TokenStyle::Opaque)),
            refresh_tokens: RefreshTokens::new("qbench", true, OnReuse::RevokeFamily),
            jids: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route(TOKEN_PATH, post(token))
            .route(REFRESH_PATH, post(refresh))
            .with_state(Arc::clone(&server));
        FakeQbench { server, addr: serve(router).await }
    }

    /// `{QBENCH_URL}`: what the broker's `base_url` is.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "qbench",
            "description": "QBench LIMS (fake)",
            "config": {"client_id": self.client_id(), "base_url": self.base_url()},
            "secrets": {"client_secret": self.client_secret()},
        })
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.server.refresh_tokens
    }

    /// Assertion exchanges that reached the token endpoint.
    pub fn assertion_calls(&self) -> usize {
        self.calls_of("token")
    }

    pub fn refresh_calls(&self) -> usize {
        self.calls_of("refresh")
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

fn params(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, Box<Response>> {
    if !content_type(headers).starts_with("application/x-www-form-urlencoded") {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "expected a form body").into());
    }
    form_pairs(body)
        .map(|pairs| pairs.into_iter().collect())
        .ok_or_else(|| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "malformed form body").into())
}

/// The docs' rules for the assertion, each refused the way a strict server would.
fn check_assertion(vendor: &VendorState, assertion: &str) -> Result<(), Box<Response>> {
    let invalid_grant = |why: &str| Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid_grant("malformed assertion"))?;
    if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some("JWT") {
        return Err(invalid_grant("the header must be {\"alg\": \"HS256\", \"typ\": \"JWT\"}"));
    }
    // The client is found by `sub`, then its secret verifies the signature.
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Claims>(assertion)
        .map_err(|_| invalid_grant("claims sub, iat and exp are required"))?
        .claims;
    if unverified.sub != vendor.client_id() {
        vendor.count_wrong_credentials();
        return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client").into());
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    let key = DecodingKey::from_secret(vendor.client_secret().as_bytes());
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            vendor.count_wrong_credentials();
            return Err(
                oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "assertion signature is invalid").into()
            );
        }
        Err(_) => return Err(invalid_grant("assertion is expired or malformed")),
    };
    let now = chrono::Utc::now().timestamp();
    if (now - claims.iat).abs() > 300 {
        return Err(invalid_grant("iat must be within 5 minutes of the server time"));
    }
    if !(300..=3600).contains(&(claims.exp - claims.iat)) {
        return Err(invalid_grant("exp must be 5 to 60 minutes after iat"));
    }
    Ok(())
}

async fn token(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let vendor = &server.vendor;
    let fault = vendor.begin().await;
    vendor.note("token");
    let params = match params(&headers, &body) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    if params.get("grant_type").map(String::as_str) != Some(JWT_BEARER) {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let Some(assertion) = params.get("assertion") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "assertion is required");
    };
    if let Err(resp) = check_assertion(vendor, assertion) {
        return *resp;
    }
    if fault == Fault::Reject {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client disabled");
    }
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    issue(&server, None)
}

async fn refresh(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let vendor = &server.vendor;
    let fault = vendor.begin().await;
    vendor.note("refresh");
    let params = match params(&headers, &body) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let Some(token) = params.get("refresh_token_id") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token_id is required");
    };
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    let expected_jid = server.jids.lock().unwrap().get(token).cloned();
    let Some(expected_jid) = expected_jid else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "unknown refresh token");
    };
    // The cookie is checked before the token is spent: a request without it changes nothing.
    if cookie(&headers, "jid").as_deref() != Some(expected_jid.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "jid cookie missing or not this token's");
    }
    match server.refresh_tokens.redeem(token) {
        Redeemed::Valid { family } => issue(&server, Some(family)),
        Redeemed::Reused => oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "refresh token reused; revoked"),
        Redeemed::Revoked | Redeemed::Unknown => {
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "refresh token revoked")
        }
    }
}

/// A token answer with a new refresh token (and its `jid` cookie) in `family`.
fn issue(server: &Server, family: Option<u64>) -> Response {
    let (access_token, expires_in) = server.vendor.mint();
    let (refresh_token, _) = server.refresh_tokens.issue(family);
    let jid = format!("jid-{}", random::hex(16));
    server.jids.lock().unwrap().insert(refresh_token.clone(), jid.clone());
    let mut resp = axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh_token,
    }))
    .into_response();
    let set_cookie = format!("jid={jid}; Path=/qbench/api/v2/auth; Max-Age=604800; HttpOnly; SameSite=Lax");
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&set_cookie).unwrap());
    resp
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}
