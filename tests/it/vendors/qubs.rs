//! QUBS (`qubs`): client credentials as a form, no refresh tokens (a token past its use is
//! replaced by asking again), `Accept: application/json` handed out with the bearer, and errors
//! as problem+json surfaced by status and title.

use serde_json::json;

use super::{SHORT_LIFETIME, assert_rejected, assert_required_and_unknown_fields, past_half_life, served, spawn};
use crate::fakes::{FakeQubs, Fault};
use crate::harness::assert_invalid;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};

const API: &str = "https://acme.qubs.example/integrations/v1";

fn expected(token: &str) -> ExpectedToken<'_> {
    ExpectedToken {
        connection_id: "qubs-prod",
        access_token: token,
        lifetime: SHORT_LIFETIME,
        headers: bearer_headers(token, &[("Accept", "application/json")]),
        api_base_url: Some(API),
    }
}

#[tokio::test]
async fn token_is_cached_then_replaced_by_a_new_client_credentials_grant() {
    let app = spawn().await;
    let qubs = FakeQubs::start().await;
    qubs.set_expires_in(SHORT_LIFETIME);
    let mut body = qubs.connection("qubs-prod");
    body["config"]["api_base_url"] = json!(API);
    app.admin.create_connection(&body).await;
    let svc = app.service(&["qubs-prod"]).await;

    let resp = svc.token_resp("qubs-prod", None).await;
    let first = served(&resp, &qubs);
    assert_token_answer(&resp, &expected(&first));
    assert_eq!(svc.access_token("qubs-prod").await, first);
    assert_eq!(qubs.calls(), 1, "a young token was not served from the cache");

    past_half_life().await;
    let resp = svc.token_resp("qubs-prod", None).await;
    let second = served(&resp, &qubs);
    assert_ne!(second, first);
    assert_token_answer(&resp, &expected(&second));
    assert_eq!(qubs.calls(), 2);
    assert_eq!(qubs.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn refused_credentials_are_surfaced_by_status_and_title() {
    let app = spawn().await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-prod")).await;
    qubs.set_fault(Fault::Reject);

    let resp = app.admin.token_resp("qubs-prod", None).await;
    // The problem's own `detail` is vendor free text: only status and title may be shown.
    assert_rejected(&app, "qubs-prod", &resp, &["401", "Unauthorized"], &["Invalid client credentials"]).await;
    assert_eq!(qubs.calls(), 1, "refused credentials must not be retried");
}

#[tokio::test]
async fn create_needs_client_id_and_client_secret_and_a_url() {
    let app = spawn().await;
    let qubs = FakeQubs::start().await;
    let valid = qubs.connection("qubs-prod");
    assert_required_and_unknown_fields(&app, &valid).await;
    for (field, bad) in [("token_url", "not a url"), ("api_base_url", "ftp://acme.example/")] {
        let mut body = valid.clone();
        body["config"][field] = json!(bad);
        let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, &format!("config.{field}"));
    }
}
