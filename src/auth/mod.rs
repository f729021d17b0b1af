//! Who is calling, and what they may do.

mod api_key;
mod cache;
mod limits;
mod unknown;

pub use api_key::{ApiKey, hash_key, is_key_id};
pub use cache::{AuthCache, AuthSettings, CHECK_DEADLINE};
pub use limits::{LimitName, Rate, Refused, Source};

use std::sync::Arc;

use chrono::Utc;

use crate::domain::{Authenticated, Role};
use crate::ids::{ConnectionId, GrantPattern, PrincipalId};
use crate::store::StoreError;

/// An authenticated caller: what its key's last check found, shared with the key cache.
#[derive(Debug, Clone)]
pub struct Caller {
    found: Arc<Authenticated>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing API key")]
    Missing,
    #[error("unknown, expired or revoked API key")]
    Invalid,
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests ({})", .0.limit.as_str())]
    RateLimited(Refused),
    /// The key's last check is older than the bound and the database cannot be asked.
    #[error("the database is unreachable, so the API key cannot be verified")]
    Unavailable,
    /// The database answered the key's check with an error (logged where it happened).
    #[error("the API key could not be checked")]
    CheckFailed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Caller {
    /// Revocation and expiry are checked on every use of a looked-up key.
    fn from_authenticated(found: Arc<Authenticated>) -> Result<Caller, AuthError> {
        if found.revoked_at.is_some() || found.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(AuthError::Invalid);
        }
        Ok(Caller { found })
    }

    pub fn principal(&self) -> &PrincipalId {
        &self.found.principal_id
    }

    /// A service caller holding `grants`, as the fuzz targets check grant matching through.
    pub(crate) fn service(principal: PrincipalId, grants: Vec<GrantPattern>) -> Caller {
        let found = Authenticated {
            key_id: String::new(),
            principal_id: principal,
            role: Role::Service,
            grants,
            expires_at: None,
            revoked_at: None,
        };
        Caller { found: Arc::new(found) }
    }

    pub fn is_admin(&self) -> bool {
        self.found.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.is_admin() { Ok(()) } else { Err(AuthError::Forbidden("this operation needs the admin role".into())) }
    }

    /// Admins may fetch every token; services those their grants match.
    pub fn require_token_access(&self, connection: &ConnectionId) -> Result<(), AuthError> {
        if self.is_admin() || self.found.grants.iter().any(|g| g.matches(connection)) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "principal {} has no grant for connection {connection}",
                self.principal()
            )))
        }
    }
}
