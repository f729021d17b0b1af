//! A connection's token state, stored sealed in its row: the access token, the refresh
//! token and the vendor's cookies. Only plain timestamps live in columns. This file is the
//! format; sealing it is the vault's.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::TokenMeta;
use crate::secret::ZeroizingString;

#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub token_type: String,
    pub obtained_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct TokenState {
    pub access: Option<AccessToken>,
    pub refresh_token: Option<SecretString>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub cookies: Vec<(String, SecretString)>,
}

impl std::fmt::Debug for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenState")
            .field("has_access_token", &self.access.is_some())
            .field("expires_at", &self.access.as_ref().map(|a| a.expires_at))
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("cookies", &self.cookies.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .finish()
    }
}

/// The sealed form, version 1. Borrowed for writing so no unzeroized copy is made.
#[derive(Serialize)]
struct Out<'a> {
    v: u8,
    access_token: Option<&'a str>,
    token_type: Option<&'a str>,
    obtained_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<&'a str>,
    refresh_token_expires_at: Option<DateTime<Utc>>,
    cookies: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
struct In {
    v: u8,
    access_token: Option<ZeroizingString>,
    token_type: Option<String>,
    obtained_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<ZeroizingString>,
    refresh_token_expires_at: Option<DateTime<Utc>>,
    cookies: Vec<(String, ZeroizingString)>,
}

impl TokenState {
    pub fn meta(&self) -> TokenMeta {
        TokenMeta {
            obtained_at: self.access.as_ref().map(|a| a.obtained_at),
            expires_at: self.access.as_ref().map(|a| a.expires_at),
            has_refresh_token: self.refresh_token.is_some(),
            refresh_token_expires_at: self.refresh_token.as_ref().and(self.refresh_token_expires_at),
        }
    }

    /// True when there is nothing worth storing.
    pub fn is_empty(&self) -> bool {
        self.access.is_none() && self.refresh_token.is_none() && self.cookies.is_empty()
    }

    /// The plaintext that is sealed: JSON, in a buffer wiped when dropped.
    pub fn to_plaintext(&self) -> Result<Zeroizing<Vec<u8>>, StateFormat> {
        let out = Out {
            v: 1,
            access_token: self.access.as_ref().map(|a| a.token.expose_secret()),
            token_type: self.access.as_ref().map(|a| a.token_type.as_str()),
            obtained_at: self.access.as_ref().map(|a| a.obtained_at),
            expires_at: self.access.as_ref().map(|a| a.expires_at),
            refresh_token: self.refresh_token.as_ref().map(|t| t.expose_secret()),
            refresh_token_expires_at: self.refresh_token_expires_at,
            cookies: self.cookies.iter().map(|(n, v)| (n.as_str(), v.expose_secret())).collect(),
        };
        let mut plaintext = Zeroizing::new(Vec::with_capacity(512));
        serde_json::to_writer(&mut *plaintext, &out).map_err(|_| StateFormat)?;
        Ok(plaintext)
    }

    pub fn from_plaintext(plaintext: &[u8]) -> Result<Self, StateFormat> {
        let raw: In = serde_json::from_slice(plaintext).map_err(|_| StateFormat)?;
        if raw.v != 1 {
            return Err(StateFormat);
        }
        let access = match (raw.access_token, raw.obtained_at, raw.expires_at) {
            (Some(token), Some(obtained_at), Some(expires_at)) => Some(AccessToken {
                token: SecretString::from(token.0.as_str()),
                token_type: raw.token_type.unwrap_or_else(|| "Bearer".into()),
                obtained_at,
                expires_at,
            }),
            _ => None,
        };
        Ok(Self {
            access,
            refresh_token: raw.refresh_token.map(|t| SecretString::from(t.0.as_str())),
            refresh_token_expires_at: raw.refresh_token_expires_at,
            cookies: raw.cookies.into_iter().map(|(n, v)| (n, SecretString::from(v.0.as_str()))).collect(),
        })
    }
}

/// A decrypted token state that is not in a format this version knows.
#[derive(Debug, Clone, Copy)]
pub struct StateFormat;
