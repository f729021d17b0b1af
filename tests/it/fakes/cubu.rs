//! Cubu's token endpoint, which is the Microsoft identity platform v2:
//! `POST /{tenant}/oauth2/v2.0/token`, client credentials with `scope={client_id}/.default`,
//! errors in Microsoft's shape. Like the real one, the wrong-secret error repeats the secret it
//! received in `error_description`, so a broker that surfaces the description leaks it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::Fault;
use super::vendor::{SharedVendor, TokenStyle, VendorState, content_type, form_pairs, serve};
use crate::harness::random;

struct Server {
    vendor: SharedVendor,
    tenant_id: String,
    /// The scope the registered application accepts; `None`: `{client_id}/.default`.
    scope: Mutex<Option<String>>,
}

pub struct FakeCubu {
    server: Arc<Server>,
    pub addr: SocketAddr,
}

impl Deref for FakeCubu {
    type Target = VendorState;
    fn deref(&self) -> &VendorState {
        &self.server.vendor
    }
}

impl FakeCubu {
    pub async fn start() -> FakeCubu {
        let vendor = Arc::new(VendorState::new("cubu", TokenStyle::Jwt));
        vendor.set_expires_in(3599);
        let server = Arc::new(Server { vendor, tenant_id: uuid(), scope: Mutex::new(None) });
        let router = Router::new().route("/{tenant}/oauth2/v2.0/token", post(token)).with_state(Arc::clone(&server));
        FakeCubu { server, addr: serve(router).await }
    }

    pub fn tenant_id(&self) -> String {
        self.server.tenant_id.clone()
    }

    /// The tenant's token endpoint on this fake, as the broker's `token_url` override.
    pub fn token_url(&self) -> String {
        format!("http://{}/{}/oauth2/v2.0/token", self.addr, self.server.tenant_id)
    }

    /// From now on only `scope` is accepted.
    pub fn expect_scope(&self, scope: &str) {
        *self.server.scope.lock().unwrap() = Some(scope.to_owned());
    }

    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "cubu",
            "description": "Cubu S2S (fake)",
            "config": {"client_id": self.client_id(), "tenant_id": self.tenant_id(), "token_url": self.token_url()},
            "secrets": {"client_secret": self.client_secret()},
        })
    }
}

/// Cubu's client and tenant ids are GUIDs.
pub fn uuid() -> String {
    let h = random::hex(16);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// An error as the identity platform words it: `error`, an AADSTS-prefixed description with
/// trace ids, and the numeric code again in `error_codes`.
fn aad_error(status: StatusCode, error: &str, code: u32, message: &str) -> Response {
    let trace_id = uuid();
    let correlation_id = uuid();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, axum::Json(body)).into_response()
}

fn missing(name: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

async fn token(
    State(server): State<Arc<Server>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let vendor = &server.vendor;
    let fault = vendor.begin().await;
    if tenant != server.tenant_id {
        let message = format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.");
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", 90002, &message);
    }
    // A body it cannot read has, as far as it can tell, no parameters at all.
    let params: HashMap<String, String> = if content_type(&headers).starts_with("application/x-www-form-urlencoded") {
        form_pairs(&body).map(|pairs| pairs.into_iter().collect()).unwrap_or_default()
    } else {
        HashMap::new()
    };
    let param = |name: &str| params.get(name).map(String::as_str);
    let Some(grant_type) = param("grant_type") else { return missing("grant_type") };
    if grant_type != "client_credentials" {
        let message = format!("The provided value for the input parameter 'grant_type' is not valid: {grant_type}.");
        return aad_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003, &message);
    }
    let Some(client_id) = param("client_id") else { return missing("client_id") };
    if client_id != vendor.client_id() {
        let message = format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'.");
        return aad_error(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, &message);
    }
    let Some(secret) = param("client_secret") else {
        let message = "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000216, message);
    };
    if !vendor.credentials_match(client_id, secret) || fault == Fault::Reject {
        let message = format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret \
             value, not the client secret ID, for a secret added to app '{client_id}'. Secret sent: '{secret}'."
        );
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, &message);
    }
    let Some(scope) = param("scope") else { return missing("scope") };
    let expected = server.scope.lock().unwrap().clone().unwrap_or_else(|| format!("{client_id}/.default"));
    if scope != expected {
        let message =
            format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.");
        return aad_error(StatusCode::BAD_REQUEST, "invalid_scope", 70011, &message);
    }
    if let Some(answer) = vendor.fault_answer(&fault).await {
        return answer;
    }
    let (access_token, expires_in) = vendor.mint();
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    }))
    .into_response()
}
