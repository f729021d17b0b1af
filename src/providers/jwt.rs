//! JWTs the broker signs itself (RFC 7523): assertions used as a grant (`jwt_bearer`), and
//! client assertions that authenticate the client (`client_secret_jwt`, `private_key_jwt`).

use aes_gcm::aead::Generate;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::error::VendorError;
use super::plan::{AssertionPlan, JwtAlg, JwtPlan};
use crate::secret::SecretMap;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Which key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// HS256 with the `client_secret`.
    ClientSecret,
    /// The PEM `private_key`; `alg` or, when `None`, RS256 for RSA keys and ES256 for EC keys.
    PrivateKey(Option<JwtAlg>),
}

pub fn sign_assertion(
    plan: &JwtPlan,
    secrets: &SecretMap,
    now: DateTime<Utc>,
) -> Result<Zeroizing<String>, VendorError> {
    let source = match plan.alg {
        JwtAlg::Hs256 => KeySource::ClientSecret,
        alg => KeySource::PrivateKey(Some(alg)),
    };
    let mut claims = plan.claims.clone();
    let iat = now.timestamp();
    claims.insert("iat".into(), Value::from(iat));
    claims.insert("exp".into(), Value::from(iat + plan.lifetime.num_seconds()));
    sign(source, Header::default(), &claims, secrets)
}

/// A client assertion for one request to `audience` (RFC 7523 §3): `iss` = `sub` = client id,
/// `aud` = the endpoint, a `jti` never used before (servers refuse replays), and a short `exp`.
pub fn sign_client_assertion(
    plan: &AssertionPlan,
    source: KeySource,
    client_id: &str,
    audience: &str,
    secrets: &SecretMap,
    now: DateTime<Utc>,
) -> Result<Zeroizing<String>, VendorError> {
    let jti = <[u8; 16]>::try_generate()
        .map_err(|_| VendorError::Config("the system random number generator failed".into()))?;
    let iat = now.timestamp();
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(client_id));
    claims.insert("sub".into(), Value::from(client_id));
    claims.insert("aud".into(), Value::from(audience));
    claims.insert("jti".into(), Value::from(URL_SAFE_NO_PAD.encode(jti)));
    claims.insert("iat".into(), Value::from(iat));
    claims.insert("nbf".into(), Value::from(iat));
    claims.insert("exp".into(), Value::from(iat + plan.lifetime.num_seconds()));
    let header = Header { kid: plan.kid.clone(), x5t: plan.x5t.clone(), ..Header::default() };
    sign(source, header, &claims, secrets)
}

fn sign(
    source: KeySource,
    mut header: Header,
    claims: &Map<String, Value>,
    secrets: &SecretMap,
) -> Result<Zeroizing<String>, VendorError> {
    let missing = |name: &str| VendorError::Config(format!("secret {name} is needed to sign the assertion"));
    let (algorithm, key) = match source {
        KeySource::ClientSecret => {
            let secret = secrets.get("client_secret").ok_or_else(|| missing("client_secret"))?;
            (Algorithm::HS256, EncodingKey::from_secret(secret.expose_secret().as_bytes()))
        }
        KeySource::PrivateKey(alg) => {
            let pem = secrets.get("private_key").ok_or_else(|| missing("private_key"))?;
            private_key(pem.expose_secret().as_bytes(), alg)?
        }
    };
    header.alg = algorithm;
    jsonwebtoken::encode(&header, claims, &key)
        .map(Zeroizing::new)
        .map_err(|e| VendorError::Config(format!("signing the assertion failed: {:?}", e.kind())))
}

fn private_key(pem: &[u8], alg: Option<JwtAlg>) -> Result<(Algorithm, EncodingKey), VendorError> {
    // The parser's message could quote key material: say only what is wrong.
    let wrong = || VendorError::Config("private_key is not a PEM key for the configured alg".into());
    match alg {
        Some(JwtAlg::Rs256) => EncodingKey::from_rsa_pem(pem).map(|k| (Algorithm::RS256, k)).map_err(|_| wrong()),
        Some(JwtAlg::Ps256) => EncodingKey::from_rsa_pem(pem).map(|k| (Algorithm::PS256, k)).map_err(|_| wrong()),
        Some(JwtAlg::Es256) => EncodingKey::from_ec_pem(pem).map(|k| (Algorithm::ES256, k)).map_err(|_| wrong()),
        Some(JwtAlg::Hs256) => Err(wrong()),
        None => EncodingKey::from_rsa_pem(pem)
            .map(|k| (Algorithm::RS256, k))
            .or_else(|_| EncodingKey::from_ec_pem(pem).map(|k| (Algorithm::ES256, k)))
            .map_err(|_| VendorError::Config("private_key is not a PEM RSA or EC private key".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};
    use secrecy::SecretString;

    fn secrets() -> SecretMap {
        let mut secrets = SecretMap::new();
        secrets.insert("client_secret".into(), SecretString::from("s3cret-s3cret-s3cret-s3cret-s3cret"));
        secrets
    }

    #[test]
    fn signs_hs256_with_the_client_secret() {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from("client-1"));
        let plan = JwtPlan { alg: JwtAlg::Hs256, claims, lifetime: chrono::Duration::minutes(10) };
        let now = Utc::now();
        let jwt = sign_assertion(&plan, &secrets(), now).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let key = DecodingKey::from_secret(b"s3cret-s3cret-s3cret-s3cret-s3cret");
        let decoded = decode::<Map<String, Value>>(jwt.as_str(), &key, &validation).unwrap();
        assert_eq!(decoded.header.typ.as_deref(), Some("JWT"));
        assert_eq!(decoded.claims["sub"], "client-1");
        assert_eq!(decoded.claims["iat"], now.timestamp());
        assert_eq!(decoded.claims["exp"], now.timestamp() + 600);
    }

    #[test]
    fn client_assertions_follow_rfc_7523_and_never_repeat_a_jti() {
        let plan =
            AssertionPlan { kid: Some("k1".into()), x5t: None, alg: None, lifetime: chrono::Duration::seconds(60) };
        let now = Utc::now();
        let aud = "https://login.example.com/oauth2/token";
        let sign = || sign_client_assertion(&plan, KeySource::ClientSecret, "client-1", aud, &secrets(), now).unwrap();
        let (a, b) = (sign(), sign());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[aud]);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        let key = DecodingKey::from_secret(b"s3cret-s3cret-s3cret-s3cret-s3cret");
        let a = decode::<Map<String, Value>>(a.as_str(), &key, &validation).unwrap();
        let b = decode::<Map<String, Value>>(b.as_str(), &key, &validation).unwrap();
        assert_eq!(a.header.kid.as_deref(), Some("k1"));
        assert_eq!((a.claims["iss"].as_str(), a.claims["sub"].as_str()), (Some("client-1"), Some("client-1")));
        assert_eq!(a.claims["exp"], now.timestamp() + 60);
        assert_ne!(a.claims["jti"], b.claims["jti"]);
    }
}
