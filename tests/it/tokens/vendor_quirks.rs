//! Rules for every provider (vendors.md): `token_type` is case-insensitive, `expires_in` may be
//! a numeric string, and without it a JWT's `exp` gives the expiry.

use crate::fakes::{ExpiresIn, FakeOAuth2, OAuth2Options, TokenStyle};
use crate::harness::spawn_app;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};

async fn answer_for(options: OAuth2Options, lifetime: i64) {
    let app = spawn_app().await;
    let fake = FakeOAuth2::start(options).await;
    fake.set_expires_in(lifetime);
    app.admin.create_connection(&fake.connection("generic")).await;
    let resp = app.admin.token_resp("generic", None).await;
    assert_eq!(resp.status, 200, "{:?}: {}", fake.options, resp.body);
    let token = fake.current_token();
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "generic",
            access_token: &token,
            lifetime,
            headers: bearer_headers(&token, &[]),
            api_base_url: None,
        },
    );
}

#[tokio::test]
async fn lowercase_bearer_and_string_expires_in_are_understood() {
    answer_for(OAuth2Options { token_type: "bearer", expires_in: ExpiresIn::String, ..Default::default() }, 1800).await;
}

#[tokio::test]
async fn without_expires_in_the_jwt_exp_gives_the_expiry() {
    answer_for(
        OAuth2Options { expires_in: ExpiresIn::Absent, token_style: TokenStyle::Jwt, ..Default::default() },
        1234,
    )
    .await;
}
