//! The authorization server does what the other interop tests rely on, checked by talking to
//! it directly: it rotates a refresh token on every use, refuses a rotated one and revokes
//! the grant with it, slides (or not) the refresh token's lifetime, states no refresh token
//! lifetime in its answers, and refuses client assertions that are replayed, expired, for
//! another audience or signed with the wrong key. If one of these stopped holding, the broker
//! tests could pass without proving anything.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::harness::authserver::{
    AuthServer, AuthServerSettings, basic_refresh_client, private_key_jwt_client, secret_jwt_client,
};
use crate::harness::{keys, random};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("client")
}

async fn refresh(server: &AuthServer, client_id: &str, secret: &str, refresh_token: &str) -> (u16, Value) {
    let resp = http()
        .post(server.token_url())
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .send()
        .await
        .expect("refresh at the authorization server");
    (resp.status().as_u16(), resp.json().await.expect("JSON answer"))
}

fn record_field(record: &Value, name: &str) -> i64 {
    record[name].as_i64().unwrap_or_else(|| panic!("refresh token record without {name}: {record}"))
}

#[tokio::test]
async fn the_server_rotates_refresh_tokens_and_revokes_the_grant_when_a_rotated_one_returns() {
    let secret = random::secret("rt-client-secret");
    let server = AuthServer::start(&AuthServerSettings {
        refresh_token_ttl: 20,
        clients: vec![basic_refresh_client("rt-client", &secret)],
        ..AuthServerSettings::default()
    })
    .await;
    let first = server.seed_refresh_token("rt-client").await;

    let (status, answer) = refresh(&server, "rt-client", &secret, &first).await;
    assert_eq!(status, 200, "{answer}");
    // What a broker learns from the answer: no refresh token lifetime of any name.
    let members: BTreeSet<&str> = answer.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(
        members,
        ["access_token", "expires_in", "id_token", "refresh_token", "scope", "token_type"].into(),
        "{answer}"
    );
    assert_eq!(answer["expires_in"], 4, "{answer}");
    let second = answer["refresh_token"].as_str().expect("a rotated refresh token").to_owned();
    assert_ne!(second, first, "the refresh token must rotate");

    let old = server.refresh_token_record(&first).await.expect("the spent token is remembered");
    assert_eq!(old["consumed"], true, "{old}");
    let new = server.refresh_token_record(&second).await.expect("the new token");
    assert_eq!(record_field(&new, "exp") - record_field(&new, "iat"), 20, "sliding: a full lifetime from its issue");
    assert_eq!(new["rotations"], 1, "{new}");
    assert_eq!(server.counters().await.rotations, 1);

    let (status, answer) = refresh(&server, "rt-client", &secret, &first).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")), "a reused token: {answer}");
    let counters = server.counters().await;
    assert_eq!((counters.refresh_token_reuse, counters.grants_revoked), (1, 1), "{counters:?}");
    // The reuse revoked the grant: the live token of the chain dies with it.
    let (status, answer) = refresh(&server, "rt-client", &secret, &second).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")), "after a reuse: {answer}");
    let counters = server.counters().await;
    assert_eq!(counters.token_requests.get("refresh_token"), Some(&3), "{counters:?}");
    assert_eq!(counters.invalid_grant, 2, "{:?}", counters.refusals());
}

#[tokio::test]
async fn without_sliding_a_rotated_refresh_token_keeps_its_predecessors_end() {
    let secret = random::secret("rt-client-secret");
    let server = AuthServer::start(&AuthServerSettings {
        refresh_token_ttl: 20,
        refresh_token_sliding: false,
        clients: vec![basic_refresh_client("rt-client", &secret)],
        ..AuthServerSettings::default()
    })
    .await;
    let first = server.seed_refresh_token("rt-client").await;
    let first_record = server.refresh_token_record(&first).await.expect("seeded token");
    // Whole seconds: let the next token's iat differ from the first's.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, answer) = refresh(&server, "rt-client", &secret, &first).await;
    assert_eq!(status, 200, "{answer}");
    let second = server.refresh_token_record(answer["refresh_token"].as_str().expect("rotated")).await.expect("new");
    assert!(record_field(&second, "iat") > record_field(&first_record, "iat"), "{first_record} then {second}");
    assert_eq!(record_field(&second, "exp"), record_field(&first_record, "exp"), "{first_record} then {second}");
}

struct Assertion<'a> {
    alg: Algorithm,
    key: EncodingKey,
    kid: Option<&'a str>,
    client_id: &'a str,
    aud: String,
    /// Seconds from now.
    exp_in: i64,
    jti: String,
}

impl Assertion<'_> {
    fn sign(&self) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.aud,
            "iat": now, "exp": now + self.exp_in, "jti": self.jti,
        });
        let header = Header { kid: self.kid.map(str::to_owned), ..Header::new(self.alg) };
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign an assertion")
    }
}

async fn client_credentials(server: &AuthServer, client_id: &str, assertion: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    let resp = http().post(server.token_url()).form(&form).send().await.expect("token request");
    (resp.status().as_u16(), resp.json().await.expect("JSON answer"))
}

fn refused(answer: &(u16, Value)) -> bool {
    answer.0 == 401 && answer.1["error"] == "invalid_client"
}

#[tokio::test]
async fn the_server_checks_client_assertions_for_replay_audience_expiry_and_key() {
    let secret = random::secret("hs-client-secret");
    let rsa = keys::rsa(Some("rs-1"));
    let ec = keys::p256(None);
    let server = AuthServer::start(&AuthServerSettings {
        clients: vec![
            secret_jwt_client("hs-client", &secret),
            private_key_jwt_client("rs-client", "RS256", &rsa.public_jwk),
            private_key_jwt_client("es-client", "ES256", &ec.public_jwk),
        ],
        ..AuthServerSettings::default()
    })
    .await;
    let hs = |aud: String, exp_in: i64| Assertion {
        alg: Algorithm::HS256,
        key: EncodingKey::from_secret(secret.as_bytes()),
        kid: None,
        client_id: "hs-client",
        aud,
        exp_in,
        jti: random::hex(16),
    };

    let valid = hs(server.token_url(), 60).sign();
    let first = client_credentials(&server, "hs-client", &valid).await;
    assert_eq!(first.0, 200, "aud = token endpoint: {}", first.1);
    let replay = client_credentials(&server, "hs-client", &valid).await;
    assert!(refused(&replay), "a replayed jti must be refused: {replay:?}");
    assert_eq!(server.counters().await.assertion_replays, 1);

    let issuer_aud = client_credentials(&server, "hs-client", &hs(server.issuer.clone(), 60).sign()).await;
    assert_eq!(issuer_aud.0, 200, "aud = issuer is accepted too: {}", issuer_aud.1);
    let elsewhere =
        client_credentials(&server, "hs-client", &hs("https://elsewhere.example/token".into(), 60).sign()).await;
    assert!(refused(&elsewhere), "another audience must be refused: {elsewhere:?}");
    let expired = client_credentials(&server, "hs-client", &hs(server.token_url(), -120).sign()).await;
    assert!(refused(&expired), "an expired assertion must be refused: {expired:?}");
    let wrong_secret = Assertion {
        key: EncodingKey::from_secret(b"not-the-client-secret-0123456789abcdef"),
        ..hs(server.token_url(), 60)
    };
    assert!(refused(&client_credentials(&server, "hs-client", &wrong_secret.sign()).await));

    let rs = |key: &str| Assertion {
        alg: Algorithm::RS256,
        key: EncodingKey::from_rsa_pem(key.as_bytes()).expect("RSA PEM"),
        kid: Some("rs-1"),
        client_id: "rs-client",
        aud: server.token_url(),
        exp_in: 60,
        jti: random::hex(16),
    };
    let rs_ok = client_credentials(&server, "rs-client", &rs(&rsa.private_pem).sign()).await;
    assert_eq!(rs_ok.0, 200, "RS256: {}", rs_ok.1);
    let stranger = keys::rsa(Some("rs-1"));
    assert!(refused(&client_credentials(&server, "rs-client", &rs(&stranger.private_pem).sign()).await));

    let es = Assertion {
        alg: Algorithm::ES256,
        key: EncodingKey::from_ec_pem(ec.private_pem.as_bytes()).expect("EC PEM"),
        kid: None,
        client_id: "es-client",
        aud: server.token_url(),
        exp_in: 60,
        jti: random::hex(16),
    };
    let es_ok = client_credentials(&server, "es-client", &es.sign()).await;
    assert_eq!(es_ok.0, 200, "ES256: {}", es_ok.1);

    let counters = server.counters().await;
    assert_eq!(counters.successes("client_credentials"), 4, "{counters:?}");
    let by_client: Vec<usize> = ["hs-client", "rs-client", "es-client"]
        .iter()
        .map(|c| counters.successes_of(c, "client_credentials"))
        .collect();
    assert_eq!(by_client, [2, 1, 1], "{:?}", counters.events);
    assert_eq!(counters.invalid_client, 5, "{:?}", counters.refusals());
}
