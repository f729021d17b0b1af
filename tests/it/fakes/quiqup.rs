//! Quiqup as its published documentation describes it: `POST /oauth/token` with a **JSON** body
//! (a form is refused), `grant_type` `client_credentials` or `refresh_token`, and an answer
//! `{access_token, created_at, expires_in, token_type: "bearer"}` in lowercase. `created_at` can
//! be set in the past, so a broker that computes the expiry as "now + expires_in" is caught.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::Fault;
use super::vendor::{
    OnReuse, Redeemed, RefreshTokens, SharedVendor, TokenStyle, VendorState, content_type, oauth_error, serve,
};

struct Server {
    vendor: SharedVendor,
    /// Seconds added to "now" for `created_at` (negative: the token was made earlier).
    created_at_offset: AtomicI64,
    with_refresh_tokens: AtomicBool,
    refresh_tokens: RefreshTokens,
}

pub struct FakeQuiqup {
    server: Arc<Server>,
    pub addr: SocketAddr,
}

impl Deref for FakeQuiqup {
    type Target = VendorState;
    fn deref(&self) -> &VendorState {
        &self.server.vendor
    }
}

impl Drop for FakeQuiqup {
    fn drop(&mut self) {
        self.server.refresh_tokens.check_on_drop();
    }
}

impl FakeQuiqup {
    pub async fn start() -> FakeQuiqup {
        let vendor = Arc::new(VendorState::new("quiqup", TokenStyle::Opaque));
        // Staging's lifetime; production's 7 days would make no test any stronger.
        vendor.set_expires_in(3600);
        let server = Arc::new(Server {
            vendor,
            created_at_offset: AtomicI64::new(0),
            with_refresh_tokens: AtomicBool::new(false),
            // Doorkeeper revokes a refresh token once it has been used.
            refresh_tokens: RefreshTokens::new("quiqup", true, OnReuse::Refuse),
        });
        let router = Router::new().route("/oauth/token", post(token)).with_state(Arc::clone(&server));
        FakeQuiqup { server, addr: serve(router).await }
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    /// Answers say the token was created `seconds` before the request.
    pub fn set_created_seconds_ago(&self, seconds: i64) {
        self.server.created_at_offset.store(-seconds, Ordering::SeqCst);
    }

    /// From now on answers carry a refresh token, which the `refresh_token` grant accepts once.
    pub fn issue_refresh_tokens(&self) {
        self.server.with_refresh_tokens.store(true, Ordering::SeqCst);
    }

    pub fn refresh_tokens(&self) -> &RefreshTokens {
        &self.server.refresh_tokens
    }

    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "quiqup",
            "description": "Quiqup deliveries (fake)",
            "config": {"client_id": self.client_id(), "token_url": self.token_url()},
            "secrets": {"client_secret": self.client_secret()},
        })
    }
}

fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Client authentication failed due to unknown client, no client authentication included, or unsupported \
         authentication method.",
    )
}

async fn token(State(server): State<Arc<Server>>, headers: HeaderMap, body: Bytes) -> Response {
    let vendor = &server.vendor;
    let fault = vendor.begin().await;
    if !content_type(&headers).starts_with("application/json") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body must be JSON");
    }
    let Ok(Value::Object(params)) = serde_json::from_slice::<Value>(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body must be a JSON object");
    };
    let text = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or_default();
    // The docs give `client_credentials` as the default grant type.
    let grant_type = params.get("grant_type").and_then(Value::as_str).unwrap_or("client_credentials");
    if !["client_credentials", "refresh_token"].contains(&grant_type) {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type must be client_credentials");
    }
    vendor.note(grant_type);
    if !vendor.credentials_match(text("client_id"), text("client_secret")) || fault == Fault::Reject {
        return invalid_client();
    }
    // A vendor that fails does so before it spends the refresh token.
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    let mut family = None;
    if grant_type == "refresh_token" {
        let Some(presented) = params.get("refresh_token").and_then(Value::as_str) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required");
        };
        match server.refresh_tokens.redeem(presented) {
            Redeemed::Valid { family: f } => family = Some(f),
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The provided authorization grant is invalid",
                );
            }
        }
    }
    let (access_token, expires_in) = vendor.mint();
    let created_at = chrono::Utc::now().timestamp() + server.created_at_offset.load(Ordering::SeqCst);
    let mut answer = Map::new();
    answer.insert("access_token".into(), access_token.into());
    answer.insert("created_at".into(), created_at.into());
    answer.insert("expires_in".into(), expires_in.into());
    answer.insert("token_type".into(), "bearer".into());
    if server.with_refresh_tokens.load(Ordering::SeqCst) {
        answer.insert("refresh_token".into(), server.refresh_tokens.issue(family).0.into());
    }
    axum::Json(Value::Object(answer)).into_response()
}
