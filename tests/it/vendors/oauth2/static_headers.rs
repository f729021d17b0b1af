//! `static_headers` hand secrets out as headers next to the bearer (API keys many vendors want
//! too), and `api_base_url` goes along; the token request itself carries the configured scope,
//! audience and extra parameters (the fake insists on them).

use serde_json::json;

use crate::fakes::{FakeOAuth2, OAuth2Options};
use crate::harness::random;
use crate::harness::token_answer::{ExpectedToken, assert_token_answer, bearer_headers};
use crate::vendors::{served, spawn};

#[tokio::test]
async fn static_headers_and_api_base_url_are_handed_out() {
    let app = spawn().await;
    let fake = FakeOAuth2::start(OAuth2Options {
        scope: Some("crm.read".into()),
        audience: Some("https://api.acme.example".into()),
        extra_params: vec![("resource".into(), "crm".into())],
        ..Default::default()
    })
    .await;
    let (api_key, tenant) = (random::secret("acme-api-key"), random::secret("acme-tenant"));
    let mut body = fake.connection("generic");
    body["config"]["static_headers"] = json!({"X-Api-Key": "api_key", "X-Acme-Tenant": "tenant_key"});
    body["config"]["api_base_url"] = json!("https://api.acme.example/v2");
    body["secrets"]["api_key"] = json!(api_key);
    body["secrets"]["tenant_key"] = json!(tenant);
    let view = app.admin.create_connection(&body).await;
    assert!(!view.to_string().contains(&api_key), "a view shows a secret's value: {view}");

    let resp = app.admin.token_resp("generic", None).await;
    let token = served(&resp, &fake);
    assert_token_answer(
        &resp,
        &ExpectedToken {
            connection_id: "generic",
            access_token: &token,
            lifetime: 3600,
            headers: bearer_headers(&token, &[("X-Api-Key", &api_key), ("X-Acme-Tenant", &tenant)]),
            api_base_url: Some("https://api.acme.example/v2"),
        },
    );
}
