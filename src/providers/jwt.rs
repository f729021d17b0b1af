//! Client assertions (RFC 7523) the broker signs itself.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::ExposeSecret;
use serde_json::Value;
use zeroize::Zeroizing;

use super::plan::{JwtAlg, JwtPlan};
use super::vendor::VendorError;
use crate::secret::SecretMap;

pub fn sign_assertion(
    plan: &JwtPlan,
    secrets: &SecretMap,
    now: DateTime<Utc>,
) -> Result<Zeroizing<String>, VendorError> {
    let missing = |name: &str| VendorError::Config(format!("secret {name} is needed to sign the assertion"));
    let (algorithm, key) = match plan.alg {
        JwtAlg::Hs256 => {
            let secret = secrets.get("client_secret").ok_or_else(|| missing("client_secret"))?;
            (Algorithm::HS256, EncodingKey::from_secret(secret.expose_secret().as_bytes()))
        }
        JwtAlg::Rs256 | JwtAlg::Es256 => {
            let pem = secrets.get("private_key").ok_or_else(|| missing("private_key"))?;
            let pem = pem.expose_secret().as_bytes();
            let parsed = if plan.alg == JwtAlg::Rs256 {
                EncodingKey::from_rsa_pem(pem).map(|k| (Algorithm::RS256, k))
            } else {
                EncodingKey::from_ec_pem(pem).map(|k| (Algorithm::ES256, k))
            };
            // The parser's message could quote key material: say only what is wrong.
            parsed.map_err(|_| VendorError::Config("private_key is not a PEM key for the configured alg".into()))?
        }
    };
    let mut claims = plan.claims.clone();
    let iat = now.timestamp();
    claims.insert("iat".into(), Value::from(iat));
    claims.insert("exp".into(), Value::from(iat + plan.lifetime.num_seconds()));
    jsonwebtoken::encode(&Header::new(algorithm), &claims, &key)
        .map(Zeroizing::new)
        .map_err(|e| VendorError::Config(format!("signing the assertion failed: {:?}", e.kind())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};
    use secrecy::SecretString;
    use serde_json::Map;

    #[test]
    fn signs_hs256_with_the_client_secret() {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from("client-1"));
        let plan = JwtPlan { alg: JwtAlg::Hs256, claims, lifetime: chrono::Duration::minutes(10) };
        let mut secrets = SecretMap::new();
        secrets.insert("client_secret".into(), SecretString::from("s3cret"));
        let now = Utc::now();
        let jwt = sign_assertion(&plan, &secrets, now).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let decoded =
            decode::<Map<String, Value>>(jwt.as_str(), &DecodingKey::from_secret(b"s3cret"), &validation).unwrap();
        assert_eq!(decoded.header.typ.as_deref(), Some("JWT"));
        assert_eq!(decoded.claims["sub"], "client-1");
        assert_eq!(decoded.claims["iat"], now.timestamp());
        assert_eq!(decoded.claims["exp"], now.timestamp() + 600);
    }
}
