//! A generic OAuth 2.0 authorization server that is strict the way real ones are: it accepts
//! exactly one grant, one body format and one client authentication method, and refuses the
//! others, so a broker that ignores `grant_type` / `body_format` / `client_auth` fails here.
//! It can also issue refresh tokens and take them back at a refresh step of its own (another
//! URL, parameter name or grant type), single-use or not, and verify JWT assertions.

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
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};

use super::Fault;
use super::vendor::{
    OnReuse, Redeemed, RefreshTokens, SharedVendor, TokenStyle, VendorState, content_type, form_pairs, oauth_error,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Form,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Body,
    Basic,
    /// No client authentication; a client secret sent anyway is refused.
    None,
}

/// The one primary grant the server accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum Grant {
    ClientCredentials,
    Password {
        username: String,
        password: String,
    },
    /// RFC 7523 assertion grant.
    JwtBearer(JwtOptions),
    /// No grant of its own: only refresh tokens issued earlier (see `seed_refresh_token`).
    RefreshToken,
}

impl Grant {
    /// The `grant_type` config value of the broker's `oauth2` provider.
    pub fn config_name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password { .. } => "password",
            Grant::JwtBearer(_) => "jwt_bearer",
            Grant::RefreshToken => "refresh_token",
        }
    }

    /// The `grant_type` the server expects on the wire.
    fn wire_name(&self) -> &'static str {
        match self {
            Grant::JwtBearer(_) => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            other => other.config_name(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct JwtOptions {
    /// HS256 is verified with the client secret, RS256/ES256 with `public_key_pem`.
    pub alg: Algorithm,
    pub public_key_pem: Option<&'static str>,
    /// Goes into the broker's secrets as `private_key`.
    pub private_key_pem: Option<&'static str>,
    /// The broker's `jwt.claims` (placeholders allowed); `None`: the documented defaults
    /// (`iss` and `sub` the client id, `aud` the token URL) are expected.
    pub claims: Option<Map<String, Value>>,
    /// The broker's `jwt.lifetime_seconds`; `exp - iat` must be exactly this (default 300).
    pub lifetime_seconds: Option<i64>,
}

/// The server's refresh step; its answers to the primary grant then carry a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshOptions {
    /// Its own path; `None`: the token endpoint itself.
    pub path: Option<&'static str>,
    pub token_param: &'static str,
    /// `None`: the request must carry no `grant_type` at all.
    pub grant_type: Option<&'static str>,
    /// The client authenticates on refresh as on the token endpoint.
    pub client_auth: bool,
    /// Single-use refresh tokens (the broker's `refresh.rotating`): a refresh spends the one it
    /// presents, and a spent one presented again is refused and recorded.
    pub rotating: bool,
    /// Refresh answers carry a new refresh token. Without it a reusable token is simply kept,
    /// but a single-use one leaves the broker with nothing to refresh with next time.
    pub reissue: bool,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions {
            path: None,
            token_param: "refresh_token",
            grant_type: Some("refresh_token"),
            client_auth: true,
            rotating: false,
            reissue: false,
        }
    }
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
    pub grant: Grant,
    pub refresh: Option<RefreshOptions>,
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
            grant: Grant::ClientCredentials,
            refresh: None,
        }
    }
}

struct Server {
    vendor: SharedVendor,
    options: OAuth2Options,
    refresh_tokens: RefreshTokens,
    token_url: String,
}

pub struct FakeOAuth2 {
    state: SharedVendor,
    server: Arc<Server>,
    pub options: OAuth2Options,
    pub addr: SocketAddr,
}

impl Drop for FakeOAuth2 {
    fn drop(&mut self) {
        self.server.refresh_tokens.check_on_drop();
    }
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
        let rotating = options.refresh.as_ref().is_some_and(|r| r.rotating);
        // The address is only known once bound, and the server needs it to check `aud`.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake vendor");
        let addr = listener.local_addr().expect("fake vendor address");
        let server = Arc::new(Server {
            vendor: Arc::clone(&state),
            options: options.clone(),
            refresh_tokens: RefreshTokens::new("oauth2", rotating, OnReuse::Refuse),
            token_url: format!("http://{addr}/token"),
        });
        let mut router = Router::new().route("/token", post(token));
        if let Some(path) = options.refresh.as_ref().and_then(|r| r.path) {
            router = router.route(path, post(refresh));
        }
        serve_on(listener, router.with_state(Arc::clone(&server)));
        FakeOAuth2 { state, server, options, addr }
    }

    /// Where the broker's refresh step must go.
    pub fn refresh_url(&self) -> String {
        match self.options.refresh.as_ref().and_then(|r| r.path) {
            Some(path) => format!("http://{}{path}", self.addr),
            None => self.token_url(),
        }
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.server.refresh_tokens
    }

    /// A refresh token from a login made elsewhere, to start a connection from.
    pub fn seed_refresh_token(&self) -> String {
        self.server.refresh_tokens.issue(None).0
    }

    /// Successful uses of the primary grant.
    pub fn primary_grants(&self) -> usize {
        self.calls_of("primary")
    }

    /// Successful refreshes.
    pub fn refreshes(&self) -> usize {
        self.calls_of("refresh")
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The broker-side `config` that matches this server's requirements.
    pub fn config(&self) -> Value {
        let mut config = Map::new();
        config.insert("token_url".into(), self.token_url().into());
        config.insert("grant_type".into(), self.options.grant.config_name().into());
        config.insert("client_id".into(), self.client_id().into());
        config.insert(
            "client_auth".into(),
            match self.options.client_auth {
                ClientAuth::Body => "body",
                ClientAuth::Basic => "basic",
                ClientAuth::None => "none",
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
        match &self.options.grant {
            Grant::Password { username, .. } => {
                config.insert("username".into(), username.clone().into());
            }
            Grant::JwtBearer(jwt) => {
                config.insert("jwt".into(), jwt_config(jwt));
            }
            Grant::ClientCredentials | Grant::RefreshToken => {}
        }
        if let Some(refresh) = self.options.refresh.as_ref().map(|r| self.refresh_config(r))
            && !refresh.is_empty()
        {
            config.insert("refresh".into(), Value::Object(refresh));
        }
        Value::Object(config)
    }

    /// The broker's `refresh` config: only what differs from its documented defaults, so the
    /// defaults are exercised too.
    fn refresh_config(&self, refresh: &RefreshOptions) -> Map<String, Value> {
        let defaults = RefreshOptions::default();
        let mut config = Map::new();
        if refresh.path.is_some() {
            config.insert("url".into(), self.refresh_url().into());
        }
        if refresh.token_param != defaults.token_param {
            config.insert("token_param".into(), refresh.token_param.into());
        }
        if refresh.grant_type != defaults.grant_type {
            config.insert("grant_type".into(), refresh.grant_type.map_or(Value::Null, Value::from));
        }
        if refresh.client_auth != defaults.client_auth {
            config.insert("client_auth".into(), refresh.client_auth.into());
        }
        if refresh.rotating {
            config.insert("rotating".into(), true.into());
        }
        config
    }

    /// The secrets this server's grant and client authentication need. A `RefreshToken`
    /// server seeds a refresh token for the connection to start from.
    pub fn secrets(&self) -> Value {
        let mut secrets = Map::new();
        let hs256 = matches!(&self.options.grant, Grant::JwtBearer(j) if j.alg == Algorithm::HS256);
        if self.options.client_auth != ClientAuth::None || hs256 {
            secrets.insert("client_secret".into(), self.client_secret().into());
        }
        match &self.options.grant {
            Grant::Password { password, .. } => {
                secrets.insert("password".into(), password.clone().into());
            }
            Grant::JwtBearer(JwtOptions { private_key_pem: Some(pem), .. }) => {
                secrets.insert("private_key".into(), (*pem).into());
            }
            Grant::RefreshToken => {
                secrets.insert("refresh_token".into(), self.seed_refresh_token().into());
            }
            Grant::ClientCredentials | Grant::JwtBearer(_) => {}
        }
        Value::Object(secrets)
    }

    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "oauth2",
            "description": "generic OAuth 2.0 (fake)",
            "config": self.config(),
            "secrets": self.secrets(),
        })
    }
}

fn jwt_config(jwt: &JwtOptions) -> Value {
    let mut config = Map::new();
    let alg = match jwt.alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "HS256",
    };
    config.insert("alg".into(), alg.into());
    if let Some(claims) = &jwt.claims {
        config.insert("claims".into(), Value::Object(claims.clone()));
    }
    if let Some(lifetime) = jwt.lifetime_seconds {
        config.insert("lifetime_seconds".into(), lifetime.into());
    }
    Value::Object(config)
}

/// Like `vendor::serve`, on a listener already bound.
fn serve_on(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
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

/// Checks the client's credentials, sent as `client_auth` says they must be (wrong ones are
/// counted); returns the secret received.
fn authenticate(
    server: &Server,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<String, Box<Response>> {
    let vendor = &server.vendor;
    let has_basic = headers.contains_key(header::AUTHORIZATION);
    let (id, secret) = match server.options.client_auth {
        ClientAuth::Basic => {
            if params.contains_key("client_secret") {
                return Err(invalid_client("client credentials must be sent with HTTP Basic only").into());
            }
            match basic_credentials(headers) {
                Some(creds) => creds,
                None => return Err(invalid_client("HTTP Basic client authentication required").into()),
            }
        }
        ClientAuth::Body => {
            if has_basic {
                return Err(invalid_client("client credentials must be sent in the body only").into());
            }
            (
                params.get("client_id").cloned().unwrap_or_default(),
                params.get("client_secret").cloned().unwrap_or_default(),
            )
        }
        ClientAuth::None => {
            if has_basic || params.contains_key("client_secret") {
                return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "this client has no secret").into());
            }
            return Ok(String::new());
        }
    };
    if !vendor.credentials_match(&id, &secret) {
        return Err(invalid_client("client authentication failed").into());
    }
    Ok(secret)
}

/// RFC 7523 §3: the signature, the expected claims, `iat` near now and the configured lifetime.
fn check_assertion(server: &Server, jwt: &JwtOptions, assertion: &str) -> Result<(), Box<Response>> {
    let invalid = |why: &str| Box::new(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("malformed assertion"))?;
    if header.alg != jwt.alg {
        return Err(invalid("unexpected assertion algorithm"));
    }
    let key = match jwt.alg {
        Algorithm::HS256 => Ok(DecodingKey::from_secret(server.vendor.client_secret().as_bytes())),
        Algorithm::RS256 => DecodingKey::from_rsa_pem(jwt.public_key_pem.unwrap_or_default().as_bytes()),
        _ => DecodingKey::from_ec_pem(jwt.public_key_pem.unwrap_or_default().as_bytes()),
    }
    .expect("the test's public key");
    let mut validation = Validation::new(jwt.alg);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &validation)
        .map_err(|e| {
            server.vendor.count_wrong_credentials();
            invalid(&format!("assertion does not verify: {:?}", e.kind()))
        })?
        .claims;
    let resolve = |v: &Value| match v {
        Value::String(s) => {
            Value::from(s.replace("{client_id}", &server.vendor.client_id()).replace("{token_url}", &server.token_url))
        }
        other => other.clone(),
    };
    let expected: Map<String, Value> = match &jwt.claims {
        Some(claims) => claims.iter().map(|(k, v)| (k.clone(), resolve(v))).collect(),
        None => {
            [("iss", server.vendor.client_id()), ("sub", server.vendor.client_id()), ("aud", server.token_url.clone())]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect()
        }
    };
    for (name, value) in &expected {
        if claims.get(name) != Some(value) {
            return Err(invalid(&format!("claim {name} must be {value}")));
        }
    }
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or_default(), claims["exp"].as_i64().unwrap_or_default());
    if (now - iat).abs() > 300 {
        return Err(invalid("iat is not near the server's time"));
    }
    if exp - iat != jwt.lifetime_seconds.unwrap_or(300) {
        return Err(invalid("the assertion's lifetime is not the configured one"));
    }
    Ok(())
}

/// What the primary grant needs besides client authentication.
fn check_grant(server: &Server, params: &HashMap<String, String>) -> Result<(), Box<Response>> {
    let param = |name: &str| params.get(name).map_or("", String::as_str);
    match &server.options.grant {
        Grant::Password { username, password } => {
            if param("username") != username || param("password") != password {
                return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "wrong username or password").into());
            }
        }
        Grant::JwtBearer(jwt) => check_assertion(server, jwt, param("assertion"))?,
        Grant::ClientCredentials | Grant::RefreshToken => {}
    }
    Ok(())
}

async fn token(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let vendor = &server.vendor;
    let options = &server.options;
    let fault = vendor.begin().await;

    let params = match params_of(options.body_format, &headers, &body) {
        Ok(p) => p,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let grant_type = params.get("grant_type").map(String::as_str);
    if let Some(refresh) = options.refresh.as_ref().filter(|r| r.path.is_none() && r.grant_type == grant_type) {
        return refresh_step(&server, refresh, &headers, &params, fault).await;
    }
    if options.grant == Grant::RefreshToken || grant_type != Some(options.grant.wire_name()) {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    let secret = match authenticate(&server, &headers, &params) {
        Ok(secret) => secret,
        Err(resp) => return *resp,
    };
    if let Err(resp) = check_grant(&server, &params) {
        return *resp;
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
    vendor.note("primary");
    let refresh_token = options.refresh.as_ref().map(|_| server.refresh_tokens.issue(None).0);
    token_answer(&server, refresh_token)
}

/// The refresh step on a path of its own.
async fn refresh(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = server.vendor.begin().await;
    let params = match params_of(server.options.body_format, &headers, &body) {
        Ok(p) => p,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let Some(refresh) = server.options.refresh.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if params.get("grant_type").map(String::as_str) != refresh.grant_type {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    refresh_step(&server, refresh, &headers, &params, fault).await
}

async fn refresh_step(
    server: &Server,
    refresh: &RefreshOptions,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    fault: Fault,
) -> Response {
    let vendor = &server.vendor;
    if refresh.client_auth {
        if let Err(resp) = authenticate(server, headers, params) {
            return *resp;
        }
    } else if headers.contains_key(header::AUTHORIZATION) || params.contains_key("client_secret") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "no client authentication on refresh");
    }
    if fault == Fault::Reject {
        return invalid_client("client disabled");
    }
    // A vendor that fails does so before it spends the refresh token.
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    let Some(presented) = params.get(refresh.token_param) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("{} is required", refresh.token_param),
        );
    };
    let family = match server.refresh_tokens.redeem(presented) {
        Redeemed::Valid { family } => family,
        _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "refresh token is invalid"),
    };
    vendor.note("refresh");
    let reissued = refresh.reissue.then(|| server.refresh_tokens.issue(Some(family)).0);
    token_answer(server, reissued)
}

fn token_answer(server: &Server, refresh_token: Option<String>) -> Response {
    let (access_token, expires_in) = server.vendor.mint();
    let mut answer = Map::new();
    answer.insert("access_token".into(), access_token.into());
    answer.insert("token_type".into(), server.options.token_type.into());
    match server.options.expires_in {
        ExpiresIn::Number => {
            answer.insert("expires_in".into(), expires_in.into());
        }
        ExpiresIn::String => {
            answer.insert("expires_in".into(), expires_in.to_string().into());
        }
        ExpiresIn::Absent => {}
    }
    if let Some(token) = refresh_token {
        answer.insert("refresh_token".into(), token.into());
    }
    axum::Json(Value::Object(answer)).into_response()
}
