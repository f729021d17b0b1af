//! QUBS as its published documentation describes it: `POST /oauth2/token`, form body with
//! `grant_type=client_credentials`, `client_id`, `client_secret`; errors as problem+json;
//! success `{"access_token": <JWT>, "expires_in": N, "token_type": "Bearer"}`.

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
use serde_json::{Value, json};

use super::vendor::{SharedVendor, TokenStyle, VendorState, content_type, form_pairs, serve};

pub struct FakeQubs {
    state: SharedVendor,
    pub addr: SocketAddr,
}

impl Deref for FakeQubs {
    type Target = VendorState;
    fn deref(&self) -> &VendorState {
        &self.state
    }
}

impl FakeQubs {
    pub async fn start() -> FakeQubs {
        let state = Arc::new(VendorState::new("qubs", TokenStyle::Jwt));
        let router = Router::new().route("/oauth2/token", post(token)).with_state(Arc::clone(&state));
        FakeQubs { state, addr: serve(router).await }
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/oauth2/token", self.addr)
    }

    /// The body of `POST /v1/connections` for a qubs connection to this fake.
    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "qubs",
            "description": "QUBS integrations (fake)",
            "config": {"client_id": self.client_id(), "token_url": self.token_url()},
            "secrets": {"client_secret": self.client_secret()},
        })
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
            "instance": "/oauth2/token",
        })
        .to_string(),
    )
        .into_response()
}

async fn token(State(vendor): State<SharedVendor>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = vendor.begin().await;

    if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
        return problem(StatusCode::BAD_REQUEST, "Content-Type must be application/x-www-form-urlencoded.");
    }
    let Some(pairs) = form_pairs(&body) else {
        return problem(StatusCode::BAD_REQUEST, "Malformed form body.");
    };
    let params: HashMap<String, String> = pairs.into_iter().collect();
    if params.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return problem(StatusCode::BAD_REQUEST, "Unsupported grant_type.");
    }
    let id = params.get("client_id").map_or("", String::as_str);
    let secret = params.get("client_secret").map_or("", String::as_str);
    if !vendor.credentials_match(id, secret) {
        return problem(StatusCode::UNAUTHORIZED, "Invalid client credentials.");
    }

    if fault == super::Fault::Reject {
        return problem(StatusCode::UNAUTHORIZED, "Invalid client credentials.");
    }
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    let (access_token, expires_in) = vendor.mint();
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "token_type": "Bearer",
    }))
    .into_response()
}
