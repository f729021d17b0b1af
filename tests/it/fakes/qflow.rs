//! Qflow's identity server as its published documentation describes it: `POST /core/connect/token`,
//! form body, the password grant with `scope=qflowapi openid offline_access`, then the
//! `refresh_token` grant. Refresh tokens are single-use, rotate on every refresh and never
//! expire; a spent one is refused, and the broker sending one fails the test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::Fault;
use super::vendor::{
    OnReuse, Redeemed, RefreshTokens, SharedVendor, TokenStyle, VendorState, content_type, form_pairs, oauth_error,
    serve,
};
use crate::harness::random;

pub const SCOPE: &str = "qflowapi openid offline_access";

struct Server {
    vendor: SharedVendor,
    username: String,
    password: Mutex<String>,
    refresh_tokens: RefreshTokens,
}

pub struct FakeQflow {
    server: Arc<Server>,
    /// The APIM key the gateway wants next to the bearer token; the identity server ignores it.
    pub subscription_key: String,
    pub addr: SocketAddr,
}

impl Deref for FakeQflow {
    type Target = VendorState;
    fn deref(&self) -> &VendorState {
        &self.server.vendor
    }
}

impl Drop for FakeQflow {
    fn drop(&mut self) {
        self.server.refresh_tokens.check_on_drop();
    }
}

impl FakeQflow {
    pub async fn start() -> FakeQflow {
        let server = Arc::new(Server {
            vendor: Arc::new(VendorState::new("qflow", TokenStyle::Opaque)),
            username: format!("{}/ops-{}@example.com", 10_000 + u32::from(rand::random::<u16>()), random::hex(3)),
            password: Mutex::new(random::secret("qflow-password")),
            refresh_tokens: RefreshTokens::new("qflow", true, OnReuse::Refuse),
        });
        let router = Router::new().route("/core/connect/token", post(token)).with_state(Arc::clone(&server));
        FakeQflow { server, subscription_key: random::secret("qflow-subscription-key"), addr: serve(router).await }
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/core/connect/token", self.addr)
    }

    /// `enterprise_pin/email`.
    pub fn username(&self) -> String {
        self.server.username.clone()
    }

    pub fn password(&self) -> String {
        self.server.password.lock().unwrap().clone()
    }

    /// The user changed their password at Qflow.
    pub fn set_password(&self, password: &str) {
        *self.server.password.lock().unwrap() = password.to_owned();
    }

    /// A refresh token from a login made elsewhere, as an admin would paste it.
    pub fn offline_refresh_token(&self) -> String {
        self.server.refresh_tokens.issue(None).0
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.server.refresh_tokens
    }

    pub fn password_grants(&self) -> usize {
        self.calls_of("password")
    }

    pub fn refresh_grants(&self) -> usize {
        self.calls_of("refresh_token")
    }

    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "qflow",
            "description": "Qflow scheduling (fake)",
            "config": {"client_id": self.client_id(), "username": self.username(), "token_url": self.token_url()},
            "secrets": {
                "client_secret": self.client_secret(),
                "password": self.password(),
                "subscription_key": self.subscription_key,
            },
        })
    }

    /// A connection started from `refresh_token`, with no password stored.
    pub fn connection_from_refresh_token(&self, id: &str, refresh_token: &str) -> Value {
        let mut body = self.connection(id);
        body["secrets"] = json!({
            "client_secret": self.client_secret(),
            "subscription_key": self.subscription_key,
            "refresh_token": refresh_token,
        });
        body
    }
}

async fn token(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let vendor = &server.vendor;
    let fault = vendor.begin().await;
    if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "");
    }
    let Some(pairs) = form_pairs(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "");
    };
    let params: HashMap<String, String> = pairs.into_iter().collect();
    let param = |name: &str| params.get(name).map_or("", String::as_str);
    let grant_type = param("grant_type");
    if !["password", "refresh_token"].contains(&grant_type) {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "");
    }
    vendor.note(grant_type);
    if !vendor.credentials_match(param("client_id"), param("client_secret")) || fault == Fault::Reject {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "");
    }
    // A vendor that fails does so before it spends the refresh token.
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    let family = if grant_type == "password" {
        if param("scope") != SCOPE {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "");
        }
        if param("username") != server.username || param("password") != *server.password.lock().unwrap() {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "invalid_username_or_password");
        }
        None
    } else {
        match server.refresh_tokens.redeem(param("refresh_token")) {
            Redeemed::Valid { family } => Some(family),
            _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", ""),
        }
    };
    let (access_token, expires_in) = vendor.mint();
    let (refresh_token, _) = server.refresh_tokens.issue(family);
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "token_type": "Bearer",
        "refresh_token": refresh_token,
    }))
    .into_response()
}
