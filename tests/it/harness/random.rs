//! Random values for ids and secrets. Secrets are distinctive (label + random hex) so that a
//! leak search cannot match by accident and a failure names which secret leaked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub fn hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// A value to store as a secret, unique per call.
pub fn secret(label: &str) -> String {
    format!("{label}-{}", hex(16))
}

/// A master key entry in the contract's `ID:BASE64(32 bytes)` form.
pub fn master_key() -> String {
    master_key_with_id("test")
}

/// A master key entry with a chosen id, for rotations (two keys, two ids).
pub fn master_key_with_id(id: &str) -> String {
    format!("{id}:{}", STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// A bootstrap admin API key: the contract wants at least 32 characters.
pub fn bootstrap_admin_key() -> String {
    format!("bootstrap-admin-{}", hex(24))
}

/// An id that is valid for connections and principals and unique per call.
pub fn id(prefix: &str) -> String {
    format!("{prefix}-{}", hex(4))
}
