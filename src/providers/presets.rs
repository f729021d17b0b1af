//! The built-in vendors, each a few lines of data over the one engine (see vendors.md).

use chrono::Duration;
use serde_json::{Map, Value};

use super::ProviderDef;
use super::fields::{FieldDef, Kind};
use super::plan::{BodyFormat, ClientAuth, Grant, HeaderSource, JwtAlg, JwtPlan, Plan, RefreshPlan};

const CLIENT_ID: FieldDef = FieldDef::required("client_id", "OAuth client id issued by the vendor.").identity();
const CLIENT_SECRET: FieldDef = FieldDef::required("client_secret", "OAuth client secret issued by the vendor.");
const API_BASE_URL: FieldDef =
    FieldDef::optional("api_base_url", "Base URL of the vendor's API, handed out with each token.").destination();

/// A plan with the common OAuth defaults: form body, client credentials in the body.
fn base_plan(token_url: url::Url, client_id: &str, default_lifetime: Duration) -> Plan {
    Plan {
        token_url,
        primary: Some(Grant::ClientCredentials),
        body: BodyFormat::Form,
        client_auth: ClientAuth::Body,
        client_id: Some(client_id.to_owned()),
        scope: None,
        audience: None,
        extra_params: Vec::new(),
        refresh: None,
        rotating_refresh_tokens: false,
        refresh_token_lifetime: None,
        headers: Vec::new(),
        api_base_url: None,
        default_lifetime,
    }
}

/// The standard RFC 6749 §6 refresh against the token endpoint itself.
pub(super) fn standard_refresh(url: &url::Url, body: BodyFormat) -> RefreshPlan {
    RefreshPlan {
        url: url.clone(),
        body,
        grant_type: Some("refresh_token".into()),
        token_param: "refresh_token".into(),
        client_auth: true,
        send_cookies: false,
    }
}

pub const QUBS: ProviderDef = ProviderDef {
    name: "qubs",
    description: "QUBS Integrations API: OAuth 2.0 client credentials (form body), JWT access tokens, no refresh tokens.",
    grants: &["client_credentials"],
    config: &[
        CLIENT_ID,
        FieldDef::optional("token_url", "Token endpoint.")
            .with_default("https://authenticate.qubs.io/oauth2/token")
            .destination(),
        API_BASE_URL,
    ],
    secrets: &[CLIENT_SECRET],
    build: |c, _| {
        let token_url = c.url("token_url", c.str_or("token_url", "https://authenticate.qubs.io/oauth2/token"))?;
        let mut plan = base_plan(token_url, c.required("client_id"), Duration::hours(1));
        plan.headers.push(("Accept".into(), HeaderSource::Static("application/json".into())));
        plan.api_base_url = c.optional_url("api_base_url");
        Some(plan)
    },
};

pub const QBENCH: ProviderDef = ProviderDef {
    name: "qbench",
    description: "QBench API v2: a self-signed HS256 JWT assertion (RFC 7523), then the vendor's own single-use refresh tokens (7 days) with a `jid` cookie.",
    grants: &["jwt_bearer", "refresh_token"],
    config: &[
        CLIENT_ID,
        FieldDef::required("base_url", "Your QBench URL, e.g. https://acme.qbench.net.").destination(),
    ],
    secrets: &[FieldDef::required("client_secret", "API client secret; signs the JWT assertion.")],
    build: |c, _| {
        let base = c.required("base_url").trim_end_matches('/').to_owned();
        let token_url = c.url("base_url", &format!("{base}/qbench/api/v2/auth/token"))?;
        let refresh_url = c.url("base_url", &format!("{base}/qbench/api/v2/auth/token/refresh"))?;
        let client_id = c.required("client_id");
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(client_id.to_owned()));
        let mut plan = base_plan(token_url, client_id, Duration::hours(1));
        // 10 minutes: inside the vendor's 5–60 minute window with room for clock skew.
        plan.primary = Some(Grant::JwtBearer(JwtPlan { alg: JwtAlg::Hs256, claims, lifetime: Duration::minutes(10) }));
        plan.client_auth = ClientAuth::None;
        plan.refresh = Some(RefreshPlan {
            url: refresh_url,
            body: BodyFormat::Form,
            grant_type: None,
            token_param: "refresh_token_id".into(),
            client_auth: false,
            send_cookies: true,
        });
        plan.rotating_refresh_tokens = true;
        plan.refresh_token_lifetime = Some(Duration::days(7));
        Some(plan)
    },
};

pub const CUBU: ProviderDef = ProviderDef {
    name: "cubu",
    description: "Cubu S2S API via the Microsoft identity platform v2: client credentials with scope `{client_id}/.default`, no refresh tokens.",
    grants: &["client_credentials"],
    config: &[
        CLIENT_ID,
        FieldDef::required(
            "tenant_id",
            "Microsoft Entra tenant id (from the registered application's Getting Started tab).",
        )
        .destination(),
        FieldDef::optional(
            "application_id",
            "Registered application id; sets api_base_url to https://s2s.api.app.cubu.com/{application_id}/.",
        )
        .destination(),
        FieldDef::optional("token_url", "Token endpoint.")
            .with_default("https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token")
            .destination(),
        FieldDef::optional("scope", "Requested scope.").with_default("{client_id}/.default"),
    ],
    secrets: &[CLIENT_SECRET],
    build: |c, _| {
        let tenant = c.required("tenant_id");
        let url_text = match c.str("token_url") {
            Some(url) if url.contains("{tenant_id}") && c.path_segment("tenant_id", tenant) => {
                url.replace("{tenant_id}", tenant)
            }
            Some(url) => url.to_owned(),
            None if c.path_segment("tenant_id", tenant) => {
                format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
            }
            None => return None,
        };
        let token_url = c.url("token_url", &url_text)?;
        let client_id = c.required("client_id");
        let mut plan = base_plan(token_url, client_id, Duration::seconds(3599));
        plan.scope = Some(c.str("scope").map_or_else(|| format!("{client_id}/.default"), str::to_owned));
        if let Some(app) = c.str("application_id")
            && c.path_segment("application_id", app)
        {
            plan.api_base_url = Some(format!("https://s2s.api.app.cubu.com/{app}/"));
        }
        Some(plan)
    },
};

pub const QUIQUP: ProviderDef = ProviderDef {
    name: "quiqup",
    description: "Quiqup platform API: client credentials as a JSON body; tokens live 7 days in production, 1 hour in staging.",
    grants: &["client_credentials", "refresh_token"],
    config: &[
        CLIENT_ID,
        FieldDef::optional("environment", "Which Quiqup environment.")
            .kind(Kind::OneOf(&["production", "staging"]))
            .with_default("production")
            .destination(),
        FieldDef::optional("token_url", "Overrides the environment's token endpoint.").destination(),
    ],
    secrets: &[CLIENT_SECRET],
    build: |c, _| {
        let default_url = match c.str_or("environment", "production") {
            "staging" => "https://platform-api.staging.quiqup.com/oauth/token",
            _ => "https://platform-api.quiqup.com/oauth/token",
        };
        let token_url = c.url("token_url", c.str_or("token_url", default_url))?;
        let mut plan = base_plan(token_url, c.required("client_id"), Duration::hours(1));
        plan.body = BodyFormat::Json;
        plan.refresh = Some(standard_refresh(&plan.token_url, BodyFormat::Json));
        Some(plan)
    },
};

pub const QFLOW: ProviderDef = ProviderDef {
    name: "qflow",
    description: "Qflow API: resource-owner password grant, single-use refresh tokens, and an APIM subscription key handed out as a header.",
    grants: &["password", "refresh_token"],
    config: &[
        CLIENT_ID,
        FieldDef::required("username", "`enterprise_pin/email` for enterprise accounts, else the email.").identity(),
        FieldDef::optional("token_url", "Token endpoint.")
            .with_default("https://identity.qflowhub.io/core/connect/token")
            .destination(),
        FieldDef::optional("scope", "Requested scope.").with_default("qflowapi openid offline_access"),
    ],
    secrets: &[
        CLIENT_SECRET,
        FieldDef::optional("password", "The user's password; required unless `refresh_token` is given."),
        FieldDef::required(
            "subscription_key",
            "Ocp-Apim-Subscription-Key from the welcome email; handed out in `headers`.",
        ),
        FieldDef::optional("refresh_token", "A current refresh token, to start without a password."),
    ],
    build: |c, has_secret| {
        let token_url = c.url("token_url", c.str_or("token_url", "https://identity.qflowhub.io/core/connect/token"))?;
        let username = c.required("username");
        if !valid_qflow_username(username) {
            c.error("username", "must be an email, or enterprise_pin/email");
        }
        if !has_secret("password") && !has_secret("refresh_token") {
            c.errors.add("secrets.password", "required unless secrets.refresh_token is given");
        }
        let mut plan = base_plan(token_url, c.required("client_id"), Duration::hours(1));
        plan.primary = has_secret("password").then(|| Grant::Password { username: username.to_owned() });
        plan.scope = Some(c.str_or("scope", "qflowapi openid offline_access").to_owned());
        plan.refresh = Some(standard_refresh(&plan.token_url, BodyFormat::Form));
        plan.rotating_refresh_tokens = true;
        plan.headers.push(("Ocp-Apim-Subscription-Key".into(), HeaderSource::Secret("subscription_key".into())));
        Some(plan)
    },
};

fn valid_qflow_username(username: &str) -> bool {
    let email = match username.split_once('/') {
        Some((pin, email)) if !pin.is_empty() && pin.bytes().all(|b| b.is_ascii_alphanumeric()) => email,
        Some(_) => return false,
        None => username,
    };
    let plain = !email.contains(|c: char| c.is_whitespace() || c == '/');
    matches!(email.split_once('@'), Some((local, domain)) if plain && !local.is_empty() && domain.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qflow_usernames() {
        for ok in ["joe.bloggs@example.com", "12345/joe.bloggs@example.com", "ACME1/a@b.io"] {
            assert!(valid_qflow_username(ok), "{ok}");
        }
        for bad in ["joe", "/joe@example.com", "12 3/joe@example.com", "a/b/c@d.e", "joe@localhost", "jo e@x.com"] {
            assert!(!valid_qflow_username(bad), "{bad}");
        }
    }
}
