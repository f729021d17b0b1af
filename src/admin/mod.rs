//! Admin changes as services. Each operation validates, seals what is secret, writes the change
//! together with its audit event, and makes the change hold on this replica (its caches) before
//! it returns; other replicas hear of it through the store. Handlers only translate HTTP.

mod connections;
mod principals;

use std::sync::Arc;

use thiserror::Error;

pub use connections::{ConnectionPatch, NewConnectionRequest};
pub use principals::IssuedKey;

use crate::auth::AuthCache;
use crate::credentials::{CredentialsError, Vault};
use crate::crypto::CryptoError;
use crate::store::{Store, StoreError};
use crate::tokens::TokenService;
use crate::validation::ValidationErrors;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

#[derive(Clone)]
pub struct Admin {
    store: Store,
    vault: Arc<Vault>,
    tokens: Arc<TokenService>,
    auth: Arc<AuthCache>,
}

impl Admin {
    pub fn new(store: Store, vault: Arc<Vault>, tokens: Arc<TokenService>, auth: Arc<AuthCache>) -> Self {
        Self { store, vault, tokens, auth }
    }
}
