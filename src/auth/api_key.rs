//! API keys: `tbk_` + 256 random bits (base64url), shown once, stored as SHA-256.

use aes_gcm::aead::Generate;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::crypto::CryptoError;

pub struct ApiKey {
    pub key_id: String,
    pub secret: SecretString,
}

impl ApiKey {
    pub fn generate() -> Result<Self, CryptoError> {
        // 32 random bytes from the OS, through the same generator the encryption uses.
        let bytes = <[u8; 32]>::try_generate().map_err(|_| CryptoError::Random)?;
        let id_bytes = <[u8; 9]>::try_generate().map_err(|_| CryptoError::Random)?;
        Ok(Self {
            key_id: format!("key_{}", URL_SAFE_NO_PAD.encode(id_bytes)),
            secret: SecretString::from(format!("tbk_{}", URL_SAFE_NO_PAD.encode(bytes))),
        })
    }

    pub fn hash(&self) -> Vec<u8> {
        hash_key(self.secret.expose_secret()).to_vec()
    }
}

/// Whether this broker could have issued a key with this id: `key_` + 12 base64url characters
/// ([`ApiKey::generate`]), or `bootstrap_` + 12 hex digits (the configured bootstrap key).
pub fn is_key_id(id: &str) -> bool {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    match (id.strip_prefix("key_"), id.strip_prefix("bootstrap_")) {
        (Some(rest), _) => rest.len() == 12 && rest.bytes().all(base64url),
        (_, Some(rest)) => rest.len() == 12 && rest.bytes().all(hex),
        _ => false,
    }
}

/// SHA-256 is enough here: keys carry 256 bits of entropy, so there is nothing to brute-force,
/// and lookup by hash keeps authentication one indexed query. A fixed-size array, so hashing
/// a presented key allocates nothing.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tbk_plus_256_bits_and_distinct() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        let text = a.secret.expose_secret();
        assert!(text.starts_with("tbk_"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&text[4..]).unwrap().len(), 32);
        assert_ne!(text, b.secret.expose_secret());
        assert_ne!(a.key_id, b.key_id);
        assert!(is_key_id(&a.key_id), "{}", a.key_id);
        assert!(is_key_id("bootstrap_0123456789ab"));
        for bad in ["", "key_", "key_abc", "key_0123456789a!", "bootstrap_0123456789AB", "x_0123456789ab"] {
            assert!(!is_key_id(bad), "{bad}");
        }
        assert_eq!(a.hash().len(), 32);
        assert!(!format!("{:?}", a.secret).contains(&text[4..]));
    }
}
