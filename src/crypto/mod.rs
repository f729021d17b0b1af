//! Encryption at rest: AES-256-GCM under a ring of master keys.
//!
//! A sealed value is self-describing, so keys and the format can change later:
//!
//! ```text
//! version (1 byte = 1) | key id length (1 byte) | key id | nonce (12 bytes) | ciphertext + tag (16 bytes)
//! ```
//!
//! The associated data binds each value to the row and field it was written for
//! (`tokenbroker:v1:<table>:<row id>:<field>`) together with the header, so a value copied to
//! another row or field, or edited in any byte, fails authentication instead of decrypting.

mod keyring;

pub use keyring::{KeyRing, generate_key_entry};

use thiserror::Error;

/// Where a sealed value belongs. Part of the associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub table: &'static str,
    pub row: &'a str,
    pub field: &'static str,
    /// What else the value is only valid with (for connections: a digest of the provider and
    /// config, so that pointing a stored connection at another URL without the master key
    /// makes its secrets undecryptable instead of sending them there).
    pub context: &'a [u8],
}

impl std::fmt::Display for Binding<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} of {:?}", self.table, self.field, self.row)
    }
}

#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("sealed value for {binding} is malformed ({reason})")]
    Malformed { binding: String, reason: &'static str },
    #[error("sealed value for {binding} names master key {key_id:?}, which is not in the key ring")]
    UnknownKey { binding: String, key_id: String },
    #[error("sealed value for {binding} failed authentication: it was edited, or moved from another row or field")]
    Integrity { binding: String },
    #[error("master keys: {0}")]
    Config(String),
    #[error("the system random number generator failed")]
    Random,
}
