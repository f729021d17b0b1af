//! Signing key pairs made fresh per test: the private half as the PKCS#8 PEM a broker is given
//! (`secrets.private_key`), the public half as the JWK an authorization server registers.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

pub struct SigningKey {
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub private_pem: String,
    pub public_jwk: Value,
}

/// An RSA 2048 key for RS256; `kid` goes into the JWK when given.
pub fn rsa(kid: Option<&str>) -> SigningKey {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
    let pkcs8 = pair.as_der().expect("RSA key as PKCS#8");
    let public = pair.public_key();
    let mut jwk = json!({
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    });
    if let Some(kid) = kid {
        jwk["kid"] = Value::from(kid);
    }
    SigningKey { private_pem: pem(pkcs8.as_ref()), public_jwk: jwk }
}

/// A P-256 key for ES256; `kid` goes into the JWK when given.
pub fn p256(kid: Option<&str>) -> SigningKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generate a P-256 key");
    let pkcs8 = pair.to_pkcs8v1().expect("P-256 key as PKCS#8");
    // Uncompressed point: 0x04 ‖ x ‖ y, 32 bytes each.
    let point = pair.public_key().as_ref();
    assert_eq!(point.len(), 65, "P-256 public key as an uncompressed point");
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    });
    if let Some(kid) = kid {
        jwk["kid"] = Value::from(kid);
    }
    SigningKey { private_pem: pem(pkcs8.as_ref()), public_jwk: jwk }
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}
