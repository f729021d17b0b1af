//! The password and refresh_token grants, each with the standard refresh step: a reusable
//! refresh token is kept and sent again, a single-use one is replaced by each answer, and a
//! single-use one the answer did not replace is spent, so the primary grant comes next.

use super::{app_with, expected};
use crate::fakes::oauth2::{Grant, RefreshOptions};
use crate::fakes::{BodyFormat, ClientAuth, OAuth2Options};
use crate::harness::random;
use crate::harness::token_answer::assert_token_answer;
use crate::vendors::served;
use crate::vendors::{SHORT_LIFETIME, past_half_life};

#[tokio::test]
async fn password_grant_over_basic_auth_then_a_reusable_refresh_token() {
    let (app, fake) = app_with(OAuth2Options {
        grant: Grant::Password { username: "ops@acme.example".into(), password: random::secret("oauth2-password") },
        client_auth: ClientAuth::Basic,
        refresh: Some(RefreshOptions::default()),
        ..Default::default()
    })
    .await;
    fake.set_expires_in(SHORT_LIFETIME);

    let resp = app.admin.token_resp("generic", None).await;
    assert_token_answer(&resp, &expected(&served(&resp, &fake), SHORT_LIFETIME));
    for round in 1..=2 {
        past_half_life().await;
        let resp = app.admin.token_resp("generic", None).await;
        assert_token_answer(&resp, &expected(&served(&resp, &fake), SHORT_LIFETIME));
        assert_eq!((fake.primary_grants(), fake.refreshes()), (1, round), "round {round}");
    }
    // The vendor does not rotate: its answers carry no new refresh token, so the first is kept.
    let first = fake.refresh_tokens().issued()[0].clone();
    assert_eq!(fake.refresh_tokens().presented(), [first.clone(), first]);
    assert_eq!(fake.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn refresh_token_grant_over_json_starts_from_the_given_token_and_follows_rotation() {
    let (app, fake) = app_with(OAuth2Options {
        grant: Grant::RefreshToken,
        body_format: BodyFormat::Json,
        client_auth: ClientAuth::Body,
        refresh: Some(RefreshOptions { rotating: true, reissue: true, ..Default::default() }),
        ..Default::default()
    })
    .await;
    let resp = app.admin.token_resp("generic", None).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_token_answer(&resp, &expected(&served(&resp, &fake), 3600));
    assert_eq!(app.admin.refresh("generic", None).await, fake.current_token());

    assert_eq!((fake.primary_grants(), fake.refreshes()), (0, 2));
    let issued = fake.refresh_tokens().issued();
    assert_eq!(fake.refresh_tokens().presented(), issued[..2], "the given token, then the rotated one");
    let view = app.admin.connection("generic").await;
    assert_eq!(view["secrets"], serde_json::json!(["client_secret"]), "a given refresh token is token state: {view}");
    assert_eq!(view["token"]["has_refresh_token"], true, "{view}");
}

#[tokio::test]
async fn a_spent_single_use_refresh_token_that_was_not_replaced_is_not_sent_again() {
    let (app, fake) = app_with(OAuth2Options {
        refresh: Some(RefreshOptions { rotating: true, reissue: false, ..Default::default() }),
        ..Default::default()
    })
    .await;
    app.admin.access_token("generic").await;
    assert_eq!(app.admin.refresh("generic", None).await, fake.current_token());
    assert_eq!((fake.primary_grants(), fake.refreshes()), (1, 1));

    // The refresh answer carried no new refresh token and the old one is spent.
    assert_eq!(app.admin.refresh("generic", None).await, fake.current_token());
    assert_eq!((fake.primary_grants(), fake.refreshes()), (2, 1), "the next renewal must use the primary grant");
    assert_eq!(fake.refresh_tokens().presented().len(), 1);
}
