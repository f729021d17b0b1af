//! A connection's credentials, in one place: its secrets and its token state are sealed and
//! opened here — always bound to the connection they belong to — and resolved with its config
//! into the plan the vendor engine runs. The token service and the admin service both come here;
//! neither touches the key ring or a binding itself.

mod state;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use thiserror::Error;

pub use state::{AccessToken, StateFormat, TokenState};

use crate::crypto::{Binding, CryptoError, KeyRing};
use crate::domain::ConnectionRecord;
use crate::ids::ConnectionId;
use crate::providers::{self, Plan};
use crate::secret::SecretMap;
use crate::validation::ValidationErrors;

#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the stored {field} of connection {id} decrypted to something this version cannot read")]
    Format { id: ConnectionId, field: &'static str },
    #[error("connection {id} has a config that cannot be used: {errors}")]
    Misconfigured { id: ConnectionId, errors: ValidationErrors },
}

/// Whose sealed values these are: the connection, and a digest of its provider and config.
/// Both are part of every sealed value's associated data, so a ciphertext moved to another
/// connection fails, and so does one whose connection was re-pointed (say, `token_url`
/// changed in the database by someone without the master key) — the secret is never sent.
pub struct Owner<'a> {
    pub id: &'a ConnectionId,
    context: [u8; 32],
}

impl<'a> Owner<'a> {
    pub fn new(id: &'a ConnectionId, provider: &str, config: &serde_json::Value) -> Self {
        let mut digest = Sha256::new();
        digest.update(provider.as_bytes());
        digest.update([0]);
        // serde_json's maps are ordered by key, so the same config always serializes alike,
        // whether it came from a request or back from either database.
        digest.update(serde_json::to_vec(config).unwrap_or_default());
        Self { id, context: digest.finalize().into() }
    }

    pub fn of(record: &'a ConnectionRecord) -> Self {
        Self::new(&record.id, &record.provider, &record.config)
    }

    fn binding(&self, field: &'static str) -> Binding<'_> {
        Binding { table: "connections", row: self.id.as_str(), field, context: &self.context }
    }
}

pub struct Vault {
    keys: Arc<KeyRing>,
    allow_insecure_urls: bool,
}

impl Vault {
    pub fn new(keys: Arc<KeyRing>, allow_insecure_urls: bool) -> Self {
        Self { keys, allow_insecure_urls }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn allow_insecure_urls(&self) -> bool {
        self.allow_insecure_urls
    }

    pub fn secrets(&self, record: &ConnectionRecord) -> Result<SecretMap, CredentialsError> {
        let plaintext = self.keys.open(Owner::of(record).binding(SECRETS), &record.secrets)?;
        SecretMap::from_plaintext(&plaintext)
            .map_err(|_| CredentialsError::Format { id: record.id.clone(), field: SECRETS })
    }

    /// The token state; empty when the connection has none.
    pub fn token(&self, record: &ConnectionRecord) -> Result<TokenState, CredentialsError> {
        let Some(sealed) = &record.token else { return Ok(TokenState::default()) };
        let plaintext = self.keys.open(Owner::of(record).binding(TOKEN), sealed)?;
        TokenState::from_plaintext(&plaintext)
            .map_err(|_| CredentialsError::Format { id: record.id.clone(), field: TOKEN })
    }

    pub fn seal_secrets(&self, owner: &Owner<'_>, secrets: &SecretMap) -> Result<Vec<u8>, CredentialsError> {
        Ok(self.keys.seal(owner.binding(SECRETS), &secrets.to_plaintext())?)
    }

    /// `None` when there is nothing worth storing.
    pub fn seal_token(&self, owner: &Owner<'_>, state: &TokenState) -> Result<Option<Vec<u8>>, CredentialsError> {
        if state.is_empty() {
            return Ok(None);
        }
        let plaintext =
            state.to_plaintext().map_err(|_| CredentialsError::Format { id: owner.id.clone(), field: TOKEN })?;
        Ok(Some(self.keys.seal(owner.binding(TOKEN), &plaintext)?))
    }

    /// The plan a stored connection's vendor calls follow. Its refresh token is token state,
    /// which may be gone (spent, refused): the plan is made as if it were there, and the token
    /// service finds out, turning the connection `needs_reauth` when nothing else can get a
    /// token, rather than failing here as a broken config.
    pub fn plan(&self, record: &ConnectionRecord, secrets: &SecretMap) -> Result<Plan, CredentialsError> {
        let misconfigured = |errors| CredentialsError::Misconfigured { id: record.id.clone(), errors };
        let provider = providers::find(&record.provider)
            .ok_or_else(|| misconfigured(ValidationErrors::single("provider", "unknown provider")))?;
        let names = provider.secret_names(&secrets.names(), true);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        provider.resolve(&record.config, &names, self.allow_insecure_urls).map_err(misconfigured)
    }
}

const SECRETS: &str = "secrets";
const TOKEN: &str = "token";
