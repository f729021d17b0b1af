//! A sixth vendor with no preset and no code, only `oauth2` config: "Ledgerly" wants a JSON body,
//! HTTP Basic client authentication, and answers a lowercase `bearer` with `expires_in` as a
//! string. It renews sessions at its own URL with a single-use `renewal_token` alone: no
//! `grant_type`, no client credentials. Its API also wants an `X-Ledgerly-Key` header.

use serde_json::json;

use crate::fakes::oauth2::RefreshOptions;
use crate::fakes::{BodyFormat, ClientAuth, ExpiresIn, FakeOAuth2, OAuth2Options};
use crate::harness::random;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};
use crate::vendors::{SHORT_LIFETIME, past_half_life, served, spawn};

const API: &str = "https://api.ledgerly.example/v3";

fn expected<'a>(token: &'a str, api_key: &'a str) -> ExpectedToken<'a> {
    ExpectedToken {
        connection_id: "ledgerly",
        access_token: token,
        lifetime: SHORT_LIFETIME,
        headers: bearer_headers(token, &[("X-Ledgerly-Key", api_key)]),
        api_base_url: Some(API),
    }
}

#[tokio::test]
async fn a_vendor_made_of_config_gets_and_renews_tokens() {
    let app = spawn().await;
    let ledgerly = FakeOAuth2::start(OAuth2Options {
        body_format: BodyFormat::Json,
        client_auth: ClientAuth::Basic,
        token_type: "bearer",
        expires_in: ExpiresIn::String,
        refresh: Some(RefreshOptions {
            path: Some("/v2/session/renew"),
            token_param: "renewal_token",
            grant_type: None,
            client_auth: false,
            rotating: true,
            reissue: true,
        }),
        ..Default::default()
    })
    .await;
    ledgerly.set_expires_in(SHORT_LIFETIME);
    let api_key = random::secret("ledgerly-api-key");
    let body = json!({
        "id": "ledgerly",
        "provider": "oauth2",
        "description": "Ledgerly accounting: no preset, config only",
        "config": {
            "token_url": ledgerly.token_url(),
            "grant_type": "client_credentials",
            "client_id": ledgerly.client_id(),
            "client_auth": "basic",
            "body_format": "json",
            "refresh": {
                "url": ledgerly.refresh_url(),
                "token_param": "renewal_token",
                "grant_type": null,
                "client_auth": false,
                "rotating": true,
            },
            "static_headers": {"X-Ledgerly-Key": "api_key"},
            "api_base_url": API,
        },
        "secrets": {"client_secret": ledgerly.client_secret(), "api_key": api_key},
    });
    app.admin.create_connection(&body).await;
    let svc = app.service(&["ledgerly"]).await;

    let resp = svc.token_resp("ledgerly", None).await;
    assert_token_answer(&resp, &expected(&served(&resp, &ledgerly), &api_key));
    for round in 1..=2 {
        past_half_life().await;
        let resp = svc.token_resp("ledgerly", None).await;
        assert_token_answer(&resp, &expected(&served(&resp, &ledgerly), &api_key));
        assert_eq!((ledgerly.primary_grants(), ledgerly.refreshes()), (1, round), "round {round}");
    }
    let issued = ledgerly.refresh_tokens().issued();
    assert_eq!(ledgerly.refresh_tokens().presented(), issued[..2], "each renewal presents the latest token");
    assert_eq!(ledgerly.wrong_credential_calls(), 0);
}
