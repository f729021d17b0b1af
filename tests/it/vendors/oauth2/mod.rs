//! The generic `oauth2` provider: each grant, body format and client authentication its config
//! can name, the refresh step, handed-out headers, and a vendor described by config alone.

mod grants;
mod jwt;
mod keys;
mod sixth_vendor;
mod static_headers;
mod validation;

use crate::fakes::{FakeOAuth2, OAuth2Options};
use crate::harness::TestApp;
use crate::harness::token_answer::{ExpectedToken, bearer_headers};

use super::spawn;

/// A broker with one `oauth2` connection, `generic`, to a fake with `options`.
async fn app_with(options: OAuth2Options) -> (TestApp, FakeOAuth2) {
    let app = spawn().await;
    let fake = FakeOAuth2::start(options).await;
    app.admin.create_connection(&fake.connection("generic")).await;
    (app, fake)
}

/// The answer for `generic`: just the bearer, no API base URL.
fn expected(token: &str, lifetime: i64) -> ExpectedToken<'_> {
    ExpectedToken {
        connection_id: "generic",
        access_token: token,
        lifetime,
        headers: bearer_headers(token, &[]),
        api_base_url: None,
    }
}
