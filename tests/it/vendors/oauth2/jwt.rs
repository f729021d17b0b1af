//! The `jwt_bearer` grant (RFC 7523) with each signing algorithm: HS256 with the client
//! secret, RS256 and ES256 with a PEM private key. The fake verifies the signature, the
//! claims, `iat` and the configured lifetime, and refuses any client secret alongside.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::keys::{EC_PRIVATE_KEY, EC_PUBLIC_KEY, RSA_PRIVATE_KEY, RSA_PUBLIC_KEY};
use super::{app_with, expected};
use crate::fakes::oauth2::{Grant, JwtOptions};
use crate::fakes::{BodyFormat, ClientAuth, OAuth2Options};
use crate::harness::token_answer::assert_token_answer;
use crate::vendors::served;

async fn assertion_is_accepted(jwt: JwtOptions, body_format: BodyFormat) {
    let (app, fake) = app_with(OAuth2Options {
        grant: Grant::JwtBearer(jwt),
        client_auth: ClientAuth::None,
        body_format,
        ..Default::default()
    })
    .await;
    let resp = app.admin.token_resp("generic", None).await;
    assert_eq!(resp.status, 200, "{:?}: {}", fake.options, resp.body);
    assert_token_answer(&resp, &expected(&served(&resp, &fake), 3600));
    assert_eq!(app.admin.access_token("generic").await, fake.current_token());
    assert_eq!(fake.calls(), 1, "not served from the cache");
}

#[tokio::test]
async fn hs256_signed_with_the_client_secret() {
    let jwt = JwtOptions {
        alg: Algorithm::HS256,
        public_key_pem: None,
        private_key_pem: None,
        claims: None,
        lifetime_seconds: None,
    };
    assertion_is_accepted(jwt, BodyFormat::Form).await;
}

#[tokio::test]
async fn rs256_signed_with_a_private_key_and_a_configured_lifetime() {
    let jwt = JwtOptions {
        alg: Algorithm::RS256,
        public_key_pem: Some(RSA_PUBLIC_KEY),
        private_key_pem: Some(RSA_PRIVATE_KEY),
        claims: None,
        lifetime_seconds: Some(120),
    };
    assertion_is_accepted(jwt, BodyFormat::Form).await;
}

#[tokio::test]
async fn es256_with_configured_claims_over_a_json_body() {
    let claims = json!({
        "iss": "{client_id}",
        "sub": "robot@acme.example",
        "aud": "{token_url}",
        "scope": "ledger.read",
    });
    let jwt = JwtOptions {
        alg: Algorithm::ES256,
        public_key_pem: Some(EC_PUBLIC_KEY),
        private_key_pem: Some(EC_PRIVATE_KEY),
        claims: claims.as_object().cloned(),
        lifetime_seconds: None,
    };
    assertion_is_accepted(jwt, BodyFormat::Json).await;
}
