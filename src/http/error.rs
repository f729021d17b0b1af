//! The one place where every layer's errors become RFC 7807 problem+json with the contract's
//! `code`. 5xx answers log their cause chain and show nothing internal.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::AdminError;
use crate::auth::{AuthError, LimitName};
use crate::credentials::CredentialsError;
use crate::crypto::CryptoError;
use crate::providers::VendorError;
use crate::store::StoreError;
use crate::tokens::TokenError;
use crate::validation::{FieldError, ValidationErrors};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 7807 problem document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:tokenbroker:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable: invalid_request, unauthenticated, forbidden, not_found, already_exists,
    /// needs_reauth, payload_too_large, rate_limited, vendor_rejected, vendor_bad_response,
    /// vendor_unavailable, unavailable, method_not_allowed, internal.
    pub code: String,
    /// Present on validation errors: each bad field and what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Option<Vec<FieldError>>,
    retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: None, retry_after: None }
    }

    /// A body that is not JSON at all.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// A well-formed request whose fields are wrong.
    pub fn invalid(errors: ValidationErrors) -> Self {
        let mut err =
            Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", format!("invalid request: {errors}"));
        err.errors = Some(errors.0);
        err
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the broker's log")
    }

    /// The contract's `code`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// For problems produced from a bare status (router fallbacks, layers).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this resource"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is over the limit"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid_request", "Content-Type must be application/json"),
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
                ("unavailable", "the request did not complete in time")
            }
            s if s.is_client_error() => ("invalid_request", "invalid request"),
            _ => ("internal", "internal error; see the broker's log"),
        };
        Self::new(status, code, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = Problem {
            kind: format!("urn:tokenbroker:problem:{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(after) = self.retry_after {
            // Rounded up: a caller that waits what it is told must find the window over.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// Logs a server-side failure with its whole cause chain, and answers without internals.
fn internal(err: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "request failed");
    ApiError::internal()
}

impl From<super::extract::BodyError> for ApiError {
    fn from(err: super::extract::BodyError) -> Self {
        match err {
            super::extract::BodyError::NotJson(_) => ApiError::bad_request(err.to_string()),
            super::extract::BodyError::Invalid(errors) => ApiError::invalid(errors),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::invalid(errors)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::AlreadyExists(what) => {
                ApiError::new(StatusCode::CONFLICT, "already_exists", format!("{what} already exists"))
            }
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "database unreachable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unreachable")
                    .with_retry_after(Duration::from_secs(2))
            }
            StoreError::LockTimeout => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "vendor_unavailable",
                "another refresh of this connection is taking too long",
            )
            .with_retry_after(Duration::from_secs(2)),
            StoreError::LastAdmin(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", err.to_string()),
            StoreError::Database(_)
            | StoreError::InvalidRow { .. }
            | StoreError::Migration(_)
            | StoreError::Url(_)
            | StoreError::Connect(_)
            | StoreError::InUse(_)
            | StoreError::LeaseLost
            | StoreError::NotEmpty(_)
            | StoreError::Bootstrap(_) => internal(&err),
        }
    }
}

impl From<CryptoError> for ApiError {
    fn from(err: CryptoError) -> Self {
        internal(&err)
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing | AuthError::Invalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", err.to_string())
            }
            AuthError::Forbidden(detail) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail),
            AuthError::RateLimited(refused) => {
                let detail = match refused.limit {
                    LimitName::Principal => "this principal is over its request rate limit on this replica",
                    LimitName::AuthFailures => "too many failed authentications from this address",
                    LimitName::ConnectionRefresh => "too many refreshes of this connection",
                };
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
                    .with_retry_after(refused.retry_after)
            }
            AuthError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database is unreachable, so this API key cannot be verified (a key is trusted from memory \
                 only for TOKENBROKER_CACHE_TTL_MS after its last check)",
            )
            .with_retry_after(Duration::from_secs(1)),
            AuthError::CheckFailed => internal(&err),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<VendorError> for ApiError {
    fn from(err: VendorError) -> Self {
        let detail = err.detail();
        match err {
            VendorError::Unavailable { retry_after, .. } => {
                // Normally the backoff window's length is given instead (TokenError::VendorFailed).
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "vendor_unavailable", detail)
                    .with_retry_after(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            other => ApiError::new(StatusCode::BAD_GATEWAY, other.code(), detail),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Disabled(id) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("connection {id} is disabled"))
            }
            TokenError::NeedsReauth(id) => ApiError::new(
                StatusCode::CONFLICT,
                "needs_reauth",
                format!("connection {id} cannot get tokens until an admin replaces its secrets"),
            ),
            TokenError::Vendor(e) => e.into(),
            // Every failed vendor answer says when the broker will try again.
            TokenError::VendorFailed { error, retry_after } => ApiError::from(error).with_retry_after(retry_after),
            TokenError::BackingOff { code, detail, retry_after, .. } => {
                let (status, code) = match code.as_str() {
                    "vendor_rejected" => (StatusCode::BAD_GATEWAY, "vendor_rejected"),
                    "vendor_bad_response" => (StatusCode::BAD_GATEWAY, "vendor_bad_response"),
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "vendor_unavailable"),
                };
                ApiError::new(status, code, format!("{detail} (not retried until the backoff ends)"))
                    .with_retry_after(retry_after)
            }
            TokenError::Store(e) => e.into(),
            TokenError::Credentials(e) => e.into(),
            TokenError::RefreshLost(_) => internal(&err),
            TokenError::RateLimited(refused) => AuthError::RateLimited(refused).into(),
        }
    }
}

impl From<CredentialsError> for ApiError {
    fn from(err: CredentialsError) -> Self {
        internal(&err)
    }
}

impl From<AdminError> for ApiError {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::Invalid(e) => e.into(),
            AdminError::Store(e) => e.into(),
            AdminError::Credentials(e) => e.into(),
            AdminError::Crypto(e) => e.into(),
        }
    }
}
