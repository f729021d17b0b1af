//! Cubu (`cubu`): Microsoft identity platform v2 client credentials, scope `{client_id}/.default`
//! unless configured, the tenant in the token URL's path, `api_base_url` from `application_id`.
//! Microsoft's error descriptions can echo the secret: only `error` and the AADSTS code may
//! reach a caller, the connection's `last_error` or a log line.

use serde_json::json;

use super::{
    SHORT_LIFETIME, assert_not_logged, assert_rejected, assert_required_and_unknown_fields, past_half_life, served,
    spawn,
};
use crate::fakes::cubu::{FakeCubu, uuid};
use crate::harness::leaks::Needle;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};
use crate::harness::{assert_invalid, random};

fn expected<'a>(token: &'a str, lifetime: i64, api_base_url: Option<&'a str>) -> ExpectedToken<'a> {
    ExpectedToken {
        connection_id: "cubu-main",
        access_token: token,
        lifetime,
        headers: bearer_headers(token, &[]),
        api_base_url,
    }
}

#[tokio::test]
async fn default_scope_and_the_api_base_url_of_the_application() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    let application_id = uuid();
    let mut body = cubu.connection("cubu-main");
    body["config"]["application_id"] = json!(application_id);
    app.admin.create_connection(&body).await;
    let svc = app.service(&["cubu-main"]).await;

    let resp = svc.token_resp("cubu-main", None).await;
    let token = served(&resp, &cubu);
    let api = format!("https://s2s.api.app.cubu.com/{application_id}/");
    assert_token_answer(&resp, &expected(&token, 3599, Some(&api)));
    assert_eq!(svc.access_token("cubu-main").await, token);
    assert_eq!(cubu.calls(), 1, "not served from the cache");
    assert_eq!(cubu.wrong_credential_calls(), 0);
}

#[tokio::test]
async fn a_configured_scope_is_sent_and_an_old_token_replaced_by_a_new_grant() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    cubu.expect_scope("api://cubu-s2s/.default");
    cubu.set_expires_in(SHORT_LIFETIME);
    let mut body = cubu.connection("cubu-main");
    body["config"]["scope"] = json!("api://cubu-s2s/.default");
    app.admin.create_connection(&body).await;

    let first = app.admin.access_token("cubu-main").await;
    past_half_life().await;
    let resp = app.admin.token_resp("cubu-main", None).await;
    let second = served(&resp, &cubu);
    assert_ne!(second, first);
    assert_token_answer(&resp, &expected(&second, SHORT_LIFETIME, None));
    assert_eq!(cubu.calls(), 2);
}

#[tokio::test]
async fn a_wrong_secret_shows_the_aadsts_code_and_never_the_echoed_secret() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    app.admin.create_connection(&cubu.connection("cubu-main")).await;
    let sent = cubu.client_secret();
    cubu.set_client_secret(&random::secret("cubu-rotated"));

    let resp = app.admin.token_resp("cubu-main", None).await;
    let never = [sent.as_str(), "Invalid client secret provided", "Trace ID"];
    let detail = assert_rejected(&app, "cubu-main", &resp, &["invalid_client", "AADSTS7000215"], &never).await;
    assert!(detail.contains("invalid_client (AADSTS7000215)"), "README: surfaced as `error (AADSTS…)`: {detail}");
    assert_eq!(cubu.calls(), 1, "refused credentials must not be retried");
    assert_not_logged(
        &app,
        &[
            Needle::new("the secret Microsoft echoed", &sent),
            Needle::new("Microsoft's description", "Invalid client secret"),
        ],
    );
}

#[tokio::test]
async fn a_scope_the_application_does_not_accept_is_invalid_scope() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    let mut body = cubu.connection("cubu-main");
    body["config"]["scope"] = json!("https://graph.microsoft.com/.default");
    app.admin.create_connection(&body).await;

    let resp = app.admin.token_resp("cubu-main", None).await;
    assert_rejected(&app, "cubu-main", &resp, &["invalid_scope", "AADSTS70011"], &["is not valid"]).await;
}

#[tokio::test]
async fn an_unknown_application_or_tenant_is_vendor_rejected_with_its_code() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    let mut unknown_app = cubu.connection("cubu-main");
    unknown_app["config"]["client_id"] = json!(uuid());
    let mut unknown_tenant = cubu.connection("cubu-other");
    let other_tenant = uuid();
    unknown_tenant["config"]["tenant_id"] = json!(other_tenant);
    unknown_tenant["config"]["token_url"] = json!(cubu.token_url().replace(&cubu.tenant_id(), &other_tenant));
    for (body, codes) in
        [(unknown_app, ["unauthorized_client", "AADSTS700016"]), (unknown_tenant, ["invalid_request", "AADSTS90002"])]
    {
        app.admin.create_connection(&body).await;
        let id = body["id"].as_str().unwrap();
        let resp = app.admin.token_resp(id, None).await;
        assert_rejected(&app, id, &resp, &codes, &["was not found", "not found. Check", &cubu.client_secret()]).await;
    }
}

#[tokio::test]
async fn create_needs_a_tenant_id_fit_for_a_url_path() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    let valid = cubu.connection("cubu-main");
    assert_required_and_unknown_fields(&app, &valid).await;
    // Required even with a `token_url` override: it is the tenant the credentials belong to.
    let mut body = valid.clone();
    body["config"].as_object_mut().unwrap().remove("tenant_id");
    let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
    assert_invalid(&resp, "config.tenant_id");
    for bad in ["../common", "tenant/oauth2", "a b"] {
        let mut body = valid.clone();
        body["config"]["tenant_id"] = json!(bad);
        body["config"].as_object_mut().unwrap().remove("token_url");
        let resp = app.admin.raw(reqwest::Method::POST, "/v1/connections").json(&body).send().await;
        assert_invalid(&resp, "config.tenant_id");
    }
}

/// The view shows where token requests go, the preset's defaults included: a user who left
/// `token_url` out can see it is Microsoft's endpoint for the tenant, and the API base.
#[tokio::test]
async fn the_view_shows_the_effective_endpoints_defaults_included() {
    let app = spawn().await;
    let cubu = FakeCubu::start().await;
    let mut body = cubu.connection("cubu-main");
    body["config"].as_object_mut().unwrap().remove("token_url");
    let view = app.admin.create_connection(&body).await;
    let tenant = body["config"]["tenant_id"].as_str().unwrap().to_owned();
    let app_id = body["config"]["application_id"].as_str().map(str::to_owned);
    assert_eq!(
        view["endpoints"]["token_url"],
        format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
        "{view}"
    );
    assert!(view["endpoints"]["refresh_url"].is_null(), "{view}");
    if let Some(app_id) = app_id {
        assert_eq!(view["endpoints"]["api_base_url"], format!("https://s2s.api.app.cubu.com/{app_id}/"));
    }
}
