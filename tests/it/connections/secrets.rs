//! `PUT /v1/connections/{id}/secrets`: replaces named secrets and drops the cached token, so
//! a rotated credential is used at once.

use reqwest::Method;
use serde_json::json;

use super::{assert_view_shape, secret_names};
use crate::harness::{app_with_qubs, assert_invalid, random};

#[tokio::test]
async fn replacing_the_secret_drops_the_cached_token_and_uses_the_new_one() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let first = app.admin.access_token("qubs-main").await;

    let rotated = random::secret("qubs-rotated-secret");
    qubs.set_client_secret(&rotated);
    let view = app.admin.put_secrets("qubs-main", &json!({"client_secret": rotated})).await;
    assert_view_shape(&view);
    assert_eq!(secret_names(&view), ["client_secret".to_owned()].into());
    assert!(view["token"].is_null(), "the cached token must be dropped: {view}");
    assert!(!view.to_string().contains(&rotated), "{view}");

    let second = app.admin.access_token("qubs-main").await;
    assert_ne!(second, first, "the token cached before the rotation was served");
    assert_eq!(second, qubs.current_token());
    assert_eq!(qubs.calls(), 2);
    assert_eq!(qubs.wrong_credential_calls(), 0, "the old secret was sent");
}

#[tokio::test]
async fn invalid_secret_changes_are_422_and_keep_the_old_secret() {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    let cases = [
        (json!({"secrets": {"pin": "1234"}}), "secrets.pin"),
        (json!({"secrets": {"client_secret": null}}), "secrets.client_secret"),
        (json!({"secrets": {"client_secret": 12345}}), "secrets.client_secret"),
        (json!({"secrets": {"client_secret": "x"}, "colour": 1}), "colour"),
    ];
    for (body, field) in cases {
        let resp = app.admin.raw(Method::PUT, "/v1/connections/qubs-main/secrets").json(&body).send().await;
        assert_invalid(&resp, field);
    }
    app.admin.token("qubs-main").await;
    assert_eq!(qubs.wrong_credential_calls(), 0, "a refused change altered the secret");
}
