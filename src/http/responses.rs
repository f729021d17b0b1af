//! Error answers shared by many routes, described once for the OpenAPI document. Every one is
//! an RFC 7807 problem with the contract's `code`. Nothing constructs these types: they only
//! describe responses (the answers themselves come from `ApiError`).
#![allow(dead_code)]

use utoipa::IntoResponses;

use super::error::Problem;

/// What every route that needs an API key can answer.
#[derive(IntoResponses)]
pub enum AuthProblems {
    /// `unauthenticated`: no key, or an unknown, expired or revoked one (with `WWW-Authenticate: Bearer`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// `forbidden`: the caller's role or grants do not allow it.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// `rate_limited`: the principal is over its request rate on this replica
    /// (`TOKENBROKER_RATE_LIMIT_PER_SECOND`, `_BURST`), or its address over its failed
    /// authentications (`TOKENBROKER_RATE_LIMIT_AUTH_FAILURES_…`).
    #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a request would be let through (rounded up)")))]
    RateLimited(Problem),
}

/// Routes any valid key may use: `unauthenticated` and `rate_limited`.
#[derive(IntoResponses)]
pub enum KeyProblems {
    /// `unauthenticated`: no key, or an unknown, expired or revoked one (with `WWW-Authenticate: Bearer`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// `rate_limited`: the principal is over its request rate on this replica, or its address
    /// over its failed authentications.
    #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a request would be let through (rounded up)")))]
    RateLimited(Problem),
}

/// `not_found`: no such connection, principal or key.
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct NotFoundProblem(Problem);

/// Bad input, named field by field.
#[derive(IntoResponses)]
pub enum InvalidProblems {
    /// `invalid_request`: the body is not JSON (or not `application/json`), or a query parameter is wrong.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// `invalid_request` with `errors: [{field, message}]` naming every bad field.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
}

/// `invalid_request`: a query parameter is wrong (named in `errors`).
#[derive(IntoResponses)]
#[response(status = 400, content_type = "application/problem+json")]
pub struct MalformedProblem(Problem);

/// `invalid_request` with `errors: [{field, message}]`: a path parameter is not acceptable.
#[derive(IntoResponses)]
#[response(status = 422, content_type = "application/problem+json")]
pub struct ValidationProblem(Problem);

/// `already_exists`: the id is in use.
#[derive(IntoResponses)]
#[response(status = 409, content_type = "application/problem+json")]
pub struct ConflictProblem(Problem);

/// What getting a token from a vendor can answer.
#[derive(IntoResponses)]
pub enum TokenProblems {
    /// `needs_reauth`: the connection cannot get tokens until an admin replaces its secrets.
    #[response(status = 409, content_type = "application/problem+json")]
    NeedsReauth(Problem),
    /// `vendor_rejected` (the vendor's code in `detail`) or `vendor_bad_response`, with `Retry-After`.
    #[response(status = 502, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until the broker calls the vendor again")))]
    Vendor(Problem),
    /// `vendor_unavailable` (with `Retry-After`), or `unavailable` (the database is unreachable and no valid token is cached).
    #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait")))]
    Unavailable(Problem),
}

/// `unavailable`: the database is unreachable (with `Retry-After`), or the request did not complete in time.
#[derive(IntoResponses)]
#[response(status = 503, content_type = "application/problem+json")]
pub struct UnavailableProblem(Problem);

/// `payload_too_large`: the body is over `TOKENBROKER_MAX_BODY_BYTES` (default 64 KiB).
#[derive(IntoResponses)]
#[response(status = 413, content_type = "application/problem+json")]
pub struct TooLargeProblem(Problem);
