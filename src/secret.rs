//! Secret values in memory: redacted in Debug, zeroized on drop.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

/// A connection's named secrets (client_secret, password, …).
#[derive(Default, Clone)]
pub struct SecretMap(BTreeMap<String, SecretString>);

impl std::fmt::Debug for SecretMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names are not secret and help debugging; values never appear.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    pub fn expose(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.expose_secret())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn insert(&mut self, name: String, value: SecretString) {
        self.0.insert(name, value);
    }

    /// Takes every secret of `other`, replacing those of the same name.
    pub fn extend(&mut self, other: SecretMap) {
        self.0.extend(other.0);
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// The plaintext JSON that gets encrypted; zeroized when dropped.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64 * self.0.len()));
        out.push(b'{');
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_string(&mut out, name);
            out.push(b':');
            push_json_string(&mut out, value.expose_secret());
        }
        out.push(b'}');
        out
    }

    pub fn from_plaintext(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let raw: BTreeMap<String, ZeroizingString> = serde_json::from_slice(bytes)?;
        Ok(Self(raw.iter().map(|(k, v)| (k.clone(), SecretString::from(v.0.as_str()))).collect()))
    }
}

/// Writes a JSON string without going through an intermediate `String` that would not be zeroized.
fn push_json_string(out: &mut Zeroizing<Vec<u8>>, value: &str) {
    // serde_json::to_writer into our zeroizing buffer escapes exactly as JSON requires.
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut **out, value);
}

/// A deserialized string that is wiped when dropped.
#[derive(Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(transparent)]
pub struct ZeroizingString(pub String);
