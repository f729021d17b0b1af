//! Issue 11 item 5: RFC 7523 client assertions for `oauth2` connections, against a server
//! that checks them (alg, `iss`, `aud`, `exp`, `jti` replay): `client_secret_jwt` (HS256 with
//! the client secret) and `private_key_jwt` (RS256 and ES256 with `private_key`). Two forced
//! refreshes in a row both succeed, which they only do with a fresh `jti` each; an assertion
//! the server refuses is `vendor_rejected`.

use serde_json::{Value, json};

use crate::harness::api::access_token_of;
use crate::harness::assert_problem;
use crate::harness::authserver::{AuthServerSettings, private_key_jwt_client, secret_jwt_client};
use crate::harness::{keys, random};

use super::setup::Rig;

async fn rig_with(clients: Vec<Value>) -> Rig {
    let server = AuthServerSettings { client_credentials_ttl: 3600, clients, ..AuthServerSettings::default() };
    Rig::start(&server, 1, &[("TOKENBROKER_VENDOR_TIMEOUT_MS", "5000")]).await
}

fn connection(id: &str, token_url: &str, client_id: &str, client_auth: &str, extra: Value, secrets: Value) -> Value {
    let mut config = json!({
        "token_url": token_url,
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_auth": client_auth,
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    json!({"id": id, "provider": "oauth2", "description": "client assertions (real authorization server)",
           "config": config, "secrets": secrets})
}

/// A token, then two forced refreshes: three client_credentials grants the server accepted,
/// three different access tokens, no assertion refused or replayed.
async fn gets_tokens(rig: &Rig, id: &str, client_id: &str) {
    let first = rig.svc(0).access_token(id).await;
    let second = access_token_of(&rig.app.admin.refresh_resp(id, None).await.expect(200));
    let third = access_token_of(&rig.app.admin.refresh_resp(id, None).await.expect(200));
    assert!(first != second && second != third && first != third, "each forced refresh is a new token");
    let counters = rig.server.counters().await;
    assert_eq!(counters.assertion_replays, 0, "{:?}", counters.refusals());
    assert_eq!(counters.invalid_client, 0, "{:?}", counters.refusals());
    assert_eq!(counters.successes_of(client_id, "client_credentials"), 3, "{:?}", counters.events);
}

#[tokio::test]
async fn client_secret_jwt_gets_tokens_from_a_real_server() {
    let secret = random::secret("hs-client-secret");
    let rig = rig_with(vec![secret_jwt_client("hs-client", &secret)]).await;
    let body = connection(
        "hs-conn",
        &rig.server.token_url(),
        "hs-client",
        "client_secret_jwt",
        json!({}),
        json!({"client_secret": secret}),
    );
    rig.app.admin.create_connection(&body).await;
    gets_tokens(&rig, "hs-conn", "hs-client").await;
}

#[tokio::test]
async fn private_key_jwt_with_an_rs256_key_and_its_kid_gets_tokens_from_a_real_server() {
    let key = keys::rsa(Some("rs-1"));
    let rig = rig_with(vec![private_key_jwt_client("rs-client", "RS256", &key.public_jwk)]).await;
    let body = connection(
        "rs-conn",
        &rig.server.token_url(),
        "rs-client",
        "private_key_jwt",
        json!({"client_assertion": {"kid": "rs-1", "lifetime_seconds": 60}}),
        json!({"private_key": key.private_pem}),
    );
    rig.app.admin.create_connection(&body).await;
    gets_tokens(&rig, "rs-conn", "rs-client").await;
}

#[tokio::test]
async fn private_key_jwt_with_an_es256_key_gets_tokens_from_a_real_server() {
    let key = keys::p256(None);
    let rig = rig_with(vec![private_key_jwt_client("es-client", "ES256", &key.public_jwk)]).await;
    let body = connection(
        "es-conn",
        &rig.server.token_url(),
        "es-client",
        "private_key_jwt",
        json!({}),
        json!({"private_key": key.private_pem}),
    );
    rig.app.admin.create_connection(&body).await;
    gets_tokens(&rig, "es-conn", "es-client").await;
}

#[tokio::test]
async fn an_assertion_the_server_refuses_is_vendor_rejected() {
    let secret = random::secret("hs-client-secret");
    let registered = keys::rsa(Some("rs-1"));
    let rig = rig_with(vec![
        secret_jwt_client("hs-client", &secret),
        private_key_jwt_client("rs-client", "RS256", &registered.public_jwk),
    ])
    .await;
    let token_url = rig.server.token_url();
    // Signed with a key the server never registered, under the registered key's kid.
    let stranger = keys::rsa(Some("rs-1"));
    let wrong_key = connection(
        "rs-wrong",
        &token_url,
        "rs-client",
        "private_key_jwt",
        json!({"client_assertion": {"kid": "rs-1"}}),
        json!({"private_key": stranger.private_pem}),
    );
    let wrong_secret = connection(
        "hs-wrong",
        &token_url,
        "hs-client",
        "client_secret_jwt",
        json!({}),
        json!({"client_secret": random::secret("not-the-client-secret")}),
    );
    for (id, body) in [("rs-wrong", wrong_key), ("hs-wrong", wrong_secret)] {
        rig.app.admin.create_connection(&body).await;
        let refused = rig.svc(0).token_resp(id, None).await;
        let problem = assert_problem(&refused, 502, "vendor_rejected");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("invalid_client")), "{problem}");
    }
    let counters = rig.server.counters().await;
    assert_eq!(counters.invalid_client, 2, "{:?}", counters.refusals());
    assert_eq!(counters.successes("client_credentials"), 0);
}
