use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::{Binding, CryptoError};

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The master keys: the first encrypts new writes, all of them decrypt.
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: they are labels, not key material.
        f.debug_struct("KeyRing").field("key_ids", &self.key_ids()).finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl KeyRing {
    /// Parses `ID:BASE64,ID:BASE64,…` (whitespace and newlines around entries are ignored,
    /// so a key file may hold one entry per line).
    pub fn parse(list: &SecretString) -> Result<Self, CryptoError> {
        let mut keys: Vec<MasterKey> = Vec::new();
        for (index, entry) in
            list.expose_secret().split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()).enumerate()
        {
            let (id, b64) = entry
                .split_once(':')
                .ok_or_else(|| CryptoError::Config(format!("entry {} is not ID:BASE64", index + 1)))?;
            if !valid_key_id(id) {
                return Err(CryptoError::Config(format!(
                    "entry {}: key id must be 1-64 characters of [A-Za-z0-9._-]",
                    index + 1
                )));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(b64.trim())
                    .map_err(|_| CryptoError::Config(format!("key {id:?} is not valid base64")))?,
            );
            let key = Key::<Aes256Gcm>::try_from(bytes.as_slice())
                .map_err(|_| CryptoError::Config(format!("key {id:?} must be exactly 32 bytes")))?;
            if keys.iter().any(|k| k.id == id) {
                return Err(CryptoError::Config(format!("key id {id:?} appears twice")));
            }
            keys.push(MasterKey { id: id.to_owned(), cipher: Aes256Gcm::new(&key) });
        }
        if keys.is_empty() {
            return Err(CryptoError::Config("no master key given".into()));
        }
        Ok(Self { keys })
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn active_key_id(&self) -> &str {
        // parse() guarantees at least one key.
        self.keys.first().map(|k| k.id.as_str()).unwrap_or_default()
    }

    /// Encrypts under the active key with a fresh random nonce.
    pub fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.keys.first().ok_or_else(|| CryptoError::Config("no master key".into()))?;
        let header = header(&key.id);
        let nonce = Nonce::try_generate().map_err(|_| CryptoError::Random)?;
        let aad = associated_data(binding, &header);
        let ciphertext = key
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: &aad })
            .map_err(|_| CryptoError::Integrity { binding: binding.to_string() })?;
        let mut out = header;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts a sealed value, checking that it belongs to `binding`.
    pub fn open(&self, binding: Binding<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let malformed = |reason| CryptoError::Malformed { binding: binding.to_string(), reason };
        let (&version, rest) = sealed.split_first().ok_or_else(|| malformed("empty"))?;
        if version != FORMAT_VERSION {
            return Err(malformed("unknown format version"));
        }
        let (&id_len, rest) = rest.split_first().ok_or_else(|| malformed("truncated header"))?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(malformed("truncated"));
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let id = std::str::from_utf8(id).map_err(|_| malformed("key id is not UTF-8"))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey { binding: binding.to_string(), key_id: id.to_owned() })?;
        let nonce = Nonce::try_from(nonce).map_err(|_| malformed("bad nonce length"))?;
        let aad = associated_data(binding, &header(id));
        key.cipher
            .decrypt(&nonce, Payload { msg: ciphertext, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Integrity { binding: binding.to_string() })
    }

    /// The key id a sealed value was written under, without decrypting it.
    pub fn sealed_key_id(sealed: &[u8]) -> Option<&str> {
        let id_len = usize::from(*sealed.get(1)?);
        std::str::from_utf8(sealed.get(2..2 + id_len)?).ok()
    }
}

fn header(key_id: &str) -> Vec<u8> {
    let mut header = Vec::with_capacity(2 + key_id.len() + NONCE_LEN + 128);
    header.push(FORMAT_VERSION);
    // valid_key_id() caps ids at 64 bytes, so the length fits a byte.
    header.push(u8::try_from(key_id.len()).unwrap_or(u8::MAX));
    header.extend_from_slice(key_id.as_bytes());
    header
}

fn associated_data(binding: Binding<'_>, header: &[u8]) -> Vec<u8> {
    // Length-prefixed parts, so no choice of ids can make two different bindings collide.
    let mut aad = Vec::with_capacity(64 + binding.row.len() + header.len());
    for part in [
        b"tokenbroker:v1".as_slice(),
        binding.table.as_bytes(),
        binding.row.as_bytes(),
        binding.field.as_bytes(),
        binding.context,
        header,
    ] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// A new master key entry `ID:BASE64`, for `tokenbroker gen-master-key`.
pub fn generate_key_entry() -> anyhow::Result<String> {
    let key = Key::<Aes256Gcm>::try_generate().map_err(|_| CryptoError::Random)?;
    let id = format!("k{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    Ok(format!("{id}:{}", STANDARD.encode(key.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(entries: &str) -> KeyRing {
        KeyRing::parse(&SecretString::from(entries.to_owned())).unwrap()
    }

    fn key(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    const A: Binding<'static> = Binding { table: "connections", row: "a", field: "secrets", context: b"ctx" };

    #[test]
    fn round_trips_with_fresh_nonces() {
        let ring = ring(&key("k1", 7));
        let one = ring.seal(A, b"hello").unwrap();
        let two = ring.seal(A, b"hello").unwrap();
        assert_ne!(one, two, "each seal must use a fresh nonce");
        assert_eq!(ring.open(A, &one).unwrap().as_slice(), b"hello");
        assert!(!one.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn value_moved_to_another_row_or_field_fails() {
        let ring = ring(&key("k1", 7));
        let sealed = ring.seal(A, b"secret").unwrap();
        let other_row = Binding { row: "b", ..A };
        let other_field = Binding { field: "token", ..A };
        let other_context = Binding { context: b"other config", ..A };
        assert!(matches!(ring.open(other_row, &sealed), Err(CryptoError::Integrity { .. })));
        assert!(matches!(ring.open(other_field, &sealed), Err(CryptoError::Integrity { .. })));
        assert!(matches!(ring.open(other_context, &sealed), Err(CryptoError::Integrity { .. })));
    }

    #[test]
    fn every_edited_byte_is_detected() {
        let ring = ring(&key("k1", 7));
        let sealed = ring.seal(A, b"secret").unwrap();
        for i in 0..sealed.len() {
            let mut edited = sealed.clone();
            edited[i] ^= 0x01;
            assert!(ring.open(A, &edited).is_err(), "byte {i} edited but accepted");
        }
        assert!(ring.open(A, &sealed[..sealed.len() - 1]).is_err());
        assert!(ring.open(A, &[]).is_err());
    }

    #[test]
    fn first_key_encrypts_and_all_decrypt() {
        let old = ring(&key("old", 1));
        let sealed_old = old.seal(A, b"x").unwrap();
        let rotated = ring(&format!("{},{}", key("new", 2), key("old", 1)));
        assert_eq!(rotated.open(A, &sealed_old).unwrap().as_slice(), b"x");
        let sealed_new = rotated.seal(A, b"y").unwrap();
        assert_eq!(KeyRing::sealed_key_id(&sealed_new), Some("new"));
        assert!(matches!(old.open(A, &sealed_new), Err(CryptoError::UnknownKey { .. })));
    }

    #[test]
    fn bad_key_lists_are_refused_without_echoing_key_material() {
        for bad in [
            "",
            "nocolon",
            "k:!!!",
            &format!("k:{}", STANDARD.encode([0u8; 16])),
            &format!("{},{}", key("a", 1), key("a", 2)),
            &key("bad id", 1),
        ] {
            let err = KeyRing::parse(&SecretString::from(bad.to_owned())).unwrap_err().to_string();
            assert!(!err.contains(&STANDARD.encode([1u8; 32])), "{err}");
        }
    }

    #[test]
    fn generated_entries_parse() {
        let entry = generate_key_entry().unwrap();
        let ring = ring(&entry);
        assert_eq!(ring.key_ids().len(), 1);
        assert!(!format!("{ring:?}").contains(entry.split_once(':').unwrap().1));
    }
}
