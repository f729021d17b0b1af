//! The generic provider: any OAuth 2.0 vendor described entirely by its config.

use chrono::Duration;
use serde_json::{Map, Value};

use super::ProviderDef;
use super::fields::{FieldDef, Kind, LIFETIME_RULE, is_lifetime};
use super::plan::{
    AssertionPlan, BodyFormat, ClientAuth, ConfigReader, Grant, HeaderSource, JwtAlg, JwtPlan, Plan, RefreshPlan,
};
use super::presets::standard_refresh;

pub const OAUTH2: ProviderDef = ProviderDef {
    name: "oauth2",
    description: "Any OAuth 2.0 token endpoint, described by config: grant, body format, client authentication, scope, audience, extra parameters, JWT assertion, refresh step and handed-out headers.",
    grants: &["client_credentials", "password", "refresh_token", "jwt_bearer"],
    config: &[
        FieldDef::required("token_url", "Token endpoint.").destination(),
        FieldDef::required("grant_type", "The primary grant.").identity().kind(Kind::OneOf(&[
            "client_credentials",
            "password",
            "refresh_token",
            "jwt_bearer",
        ])),
        FieldDef::optional("client_id", "OAuth client id.").identity(),
        FieldDef::optional(
            "client_auth",
            "How the client authenticates: `body` (client_id and client_secret parameters), `basic` (HTTP Basic), `none`, or an RFC 7523 client assertion: `client_secret_jwt` (HS256 with client_secret) or `private_key_jwt` (signed with private_key: RS256 for RSA, ES256 for EC keys). Assertions carry iss = sub = client_id, aud = the endpoint, a unique jti and a short exp.",
        )
        .kind(Kind::OneOf(&["body", "basic", "none", "client_secret_jwt", "private_key_jwt"]))
        .with_default("body"),
        FieldDef::optional(
            "client_assertion",
            "Client assertion settings: {\"kid\": header kid, \"x5t\": header x5t (certificate thumbprint, for Microsoft), \"alg\": \"RS256\"|\"PS256\"|\"ES256\" (private_key_jwt; default by key type), \"lifetime_seconds\": 60 (10 to 600)}.",
        )
        .kind(Kind::Object),
        FieldDef::optional("body_format", "Request body encoding.")
            .kind(Kind::OneOf(&["form", "json"]))
            .with_default("form"),
        FieldDef::optional("scope", "`scope` parameter."),
        FieldDef::optional("audience", "`audience` parameter."),
        FieldDef::optional("username", "Resource owner's username (password grant).").identity(),
        FieldDef::optional("extra_params", "Further string parameters sent with every token request.").kind(Kind::Object),
        FieldDef::optional(
            "jwt",
            "jwt_bearer settings: {\"alg\": \"HS256\"|\"RS256\"|\"ES256\" (HS256 signs with client_secret, others with private_key), \"claims\": {…} (strings may use {client_id} and {token_url}; default iss and sub = client_id, aud = token_url), \"lifetime_seconds\": 300}.",
        )
        .kind(Kind::Object),
        FieldDef::optional(
            "refresh",
            "Refresh step: {\"url\": token_url, \"token_param\": \"refresh_token\", \"grant_type\": \"refresh_token\" (null to omit), \"client_auth\": true, \"send_cookies\": false, \"rotating\": false (single-use refresh tokens), \"lifetime_seconds\": none}.",
        )
        .kind(Kind::Object)
        .destination(),
        FieldDef::optional(
            "static_headers",
            "Headers handed out with each token, as {\"Header-Name\": \"secret_name\"}: the value is that secret's.",
        )
        .kind(Kind::Object),
        FieldDef::optional("default_expires_in", "Lifetime assumed when the vendor states none.")
            .kind(Kind::Seconds)
            .with_default("300"),
        FieldDef::optional("api_base_url", "Base URL of the vendor's API, handed out with each token.").destination(),
    ],
    secrets: &[
        FieldDef::optional("client_secret", "Client secret (body, basic or client_secret_jwt client auth, HS256 assertions)."),
        FieldDef::optional("password", "Resource owner's password (password grant)."),
        FieldDef::optional("refresh_token", "A refresh token to start from (refresh_token grant)."),
        FieldDef::optional("private_key", "PEM private key for private_key_jwt and RS256/ES256 assertions."),
    ],
    build,
};

fn build(c: &mut ConfigReader<'_>, has_secret: &dyn Fn(&str) -> bool) -> Option<Plan> {
    let token_url = c.url("token_url", c.required("token_url"))?;
    let body = match c.str_or("body_format", "form") {
        "json" => BodyFormat::Json,
        _ => BodyFormat::Form,
    };
    let method = c.str_or("client_auth", "body");
    let client_auth = match method {
        "basic" => ClientAuth::Basic,
        "none" => ClientAuth::None,
        "client_secret_jwt" => ClientAuth::SecretJwt(assertion_plan(c, false)),
        "private_key_jwt" => ClientAuth::PrivateKeyJwt(assertion_plan(c, true)),
        _ => ClientAuth::Body,
    };
    if c.object("client_assertion").is_some() && !matches!(method, "client_secret_jwt" | "private_key_jwt") {
        c.error("client_assertion", "only used with client_auth client_secret_jwt or private_key_jwt");
    }
    let client_id = c.str("client_id").map(str::to_owned);
    if client_auth != ClientAuth::None {
        if client_id.is_none() {
            c.error("client_id", format!("required when client_auth is {method}"));
        }
        let key = if method == "private_key_jwt" { "private_key" } else { "client_secret" };
        if !has_secret(key) {
            c.errors.add(format!("secrets.{key}"), format!("required when client_auth is {method}"));
        }
    }
    let primary = match c.required("grant_type") {
        "client_credentials" => Some(Grant::ClientCredentials),
        "password" => {
            let username = c.str("username");
            if username.is_none() {
                c.error("username", "required for the password grant");
            }
            if !has_secret("password") {
                c.errors.add("secrets.password", "required for the password grant");
            }
            Some(Grant::Password { username: username.unwrap_or_default().to_owned() })
        }
        "refresh_token" => {
            if !has_secret("refresh_token") {
                c.errors.add("secrets.refresh_token", "required for the refresh_token grant");
            }
            None
        }
        "jwt_bearer" => Some(Grant::JwtBearer(jwt_plan(c, &token_url, client_id.as_deref(), has_secret))),
        _ => return None,
    };
    let refresh = refresh_plan(c, &token_url, body);
    let headers = static_headers(c);
    let extra_params = string_map(c, "extra_params");
    // Both lifetimes were checked (`is_lifetime`) and an error recorded when out of range: the
    // plan is then refused, but is never built with a duration that cannot be made.
    let default_lifetime =
        Duration::seconds(c.seconds("default_expires_in").filter(|s| is_lifetime(*s)).unwrap_or(300));
    let refresh_cfg = c.object("refresh");
    let flag = |name: &str| refresh_cfg.and_then(|r| r.get(name)).and_then(Value::as_bool).unwrap_or(false);
    Some(Plan {
        token_url,
        primary,
        body,
        client_auth,
        client_id,
        scope: c.str("scope").map(str::to_owned),
        audience: c.str("audience").map(str::to_owned),
        extra_params,
        refresh,
        rotating_refresh_tokens: flag("rotating"),
        refresh_token_lifetime: refresh_cfg
            .and_then(|r| r.get("lifetime_seconds"))
            .and_then(Value::as_i64)
            .filter(|s| is_lifetime(*s))
            .map(Duration::seconds),
        headers,
        api_base_url: c.optional_url("api_base_url"),
        default_lifetime,
    })
}

fn jwt_plan(
    c: &mut ConfigReader<'_>,
    token_url: &url::Url,
    client_id: Option<&str>,
    has_secret: &dyn Fn(&str) -> bool,
) -> JwtPlan {
    let empty = Map::new();
    let jwt = c.object("jwt").unwrap_or(&empty);
    for key in jwt.keys() {
        if !["alg", "claims", "lifetime_seconds"].contains(&key.as_str()) {
            c.error(&format!("jwt.{key}"), "unknown field");
        }
    }
    let alg = match jwt.get("alg").and_then(Value::as_str).unwrap_or("HS256") {
        "HS256" => JwtAlg::Hs256,
        "RS256" => JwtAlg::Rs256,
        "ES256" => JwtAlg::Es256,
        _ => {
            c.error("jwt.alg", "must be one of: HS256, RS256, ES256");
            JwtAlg::Hs256
        }
    };
    let key_secret = if alg == JwtAlg::Hs256 { "client_secret" } else { "private_key" };
    if !has_secret(key_secret) {
        c.errors.add(format!("secrets.{key_secret}"), "required to sign the jwt_bearer assertion");
    }
    let lifetime = match jwt.get("lifetime_seconds") {
        None => 300,
        Some(v) => match v.as_i64() {
            Some(s) if (30..=3600).contains(&s) => s,
            _ => {
                c.error("jwt.lifetime_seconds", "must be a whole number from 30 to 3600");
                300
            }
        },
    };
    let substitute =
        |s: &str| s.replace("{client_id}", client_id.unwrap_or_default()).replace("{token_url}", token_url.as_str());
    let mut claims = Map::new();
    match jwt.get("claims") {
        None => {
            if let Some(id) = client_id {
                claims.insert("iss".into(), Value::String(id.to_owned()));
                claims.insert("sub".into(), Value::String(id.to_owned()));
            }
            claims.insert("aud".into(), Value::String(token_url.to_string()));
        }
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let value = match value {
                    Value::String(s) => Value::String(substitute(s)),
                    other => other.clone(),
                };
                claims.insert(name.clone(), value);
            }
        }
        Some(_) => c.error("jwt.claims", "must be an object"),
    }
    JwtPlan { alg, claims, lifetime: Duration::seconds(lifetime) }
}

fn assertion_plan(c: &mut ConfigReader<'_>, private_key: bool) -> AssertionPlan {
    let empty = Map::new();
    let cfg = c.object("client_assertion").unwrap_or(&empty);
    let mut plan = AssertionPlan { kid: None, x5t: None, alg: None, lifetime: Duration::seconds(60) };
    for (key, value) in cfg {
        let field = format!("client_assertion.{key}");
        match (key.as_str(), value) {
            ("kid", Value::String(s)) if is_header_token(s) => plan.kid = Some(s.clone()),
            ("x5t", Value::String(s)) if is_header_token(s) => plan.x5t = Some(s.clone()),
            ("kid" | "x5t", _) => c.error(&field, "must be a non-empty string of at most 256 visible ASCII characters"),
            ("alg", Value::String(alg)) if private_key => match alg.as_str() {
                "RS256" => plan.alg = Some(JwtAlg::Rs256),
                "PS256" => plan.alg = Some(JwtAlg::Ps256),
                "ES256" => plan.alg = Some(JwtAlg::Es256),
                _ => c.error(&field, "must be one of: RS256, PS256, ES256"),
            },
            ("alg", _) if private_key => c.error(&field, "must be one of: RS256, PS256, ES256"),
            ("alg", _) => c.error(&field, "client_secret_jwt always signs HS256"),
            ("lifetime_seconds", v) => match v.as_i64() {
                Some(s) if (10..=600).contains(&s) => plan.lifetime = Duration::seconds(s),
                _ => c.error(&field, "must be a whole number from 10 to 600"),
            },
            _ => c.error(&field, "unknown field"),
        }
    }
    plan
}

fn is_header_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic())
}

fn refresh_plan(c: &mut ConfigReader<'_>, token_url: &url::Url, body: BodyFormat) -> Option<RefreshPlan> {
    let mut plan = standard_refresh(token_url, body);
    let Some(cfg) = c.object("refresh") else {
        return Some(plan);
    };
    for (key, value) in cfg {
        let field = format!("refresh.{key}");
        match (key.as_str(), value) {
            ("url", Value::String(url)) => {
                if let Some(url) = c.url(&field, url) {
                    plan.url = url;
                }
            }
            ("token_param", Value::String(name)) if !name.is_empty() => plan.token_param = name.clone(),
            ("grant_type", Value::String(grant)) => plan.grant_type = Some(grant.clone()),
            ("grant_type", Value::Null) => plan.grant_type = None,
            ("client_auth", Value::Bool(b)) => plan.client_auth = *b,
            ("send_cookies", Value::Bool(b)) => plan.send_cookies = *b,
            ("rotating", Value::Bool(_)) => {}
            ("lifetime_seconds", Value::Number(n)) if n.as_i64().is_some_and(is_lifetime) => {}
            ("lifetime_seconds", _) => c.error(&field, LIFETIME_RULE),
            ("url" | "token_param" | "grant_type" | "client_auth" | "send_cookies" | "rotating", _) => {
                c.error(&field, "has the wrong type")
            }
            _ => c.error(&field, "unknown field"),
        }
    }
    Some(plan)
}

fn static_headers(c: &mut ConfigReader<'_>) -> Vec<(String, HeaderSource)> {
    let mut headers = Vec::new();
    for (name, secret) in c.object("static_headers").into_iter().flatten() {
        let field = format!("static_headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() || name.eq_ignore_ascii_case("authorization") {
            c.error(&field, "is not a header name that can be handed out");
            continue;
        }
        match secret.as_str() {
            // A credential the broker uses to get tokens is never handed to callers.
            Some(secret) if GRANT_CREDENTIALS.contains(&secret) => {
                c.error(&field, "must name a secret of its own, not a credential used to get tokens")
            }
            Some(secret) if is_secret_name(secret) => {
                headers.push((name.clone(), HeaderSource::Secret(secret.to_owned())))
            }
            _ => c.error(&field, "must name a secret ([a-z0-9_]{1,64})"),
        }
    }
    headers
}

/// Secrets that get tokens; never handed out in `headers`.
const GRANT_CREDENTIALS: &[&str] = &["client_secret", "password", "refresh_token", "private_key"];

fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn string_map(c: &mut ConfigReader<'_>, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in c.object(name).into_iter().flatten() {
        match value.as_str() {
            Some(v) => out.push((key.clone(), v.to_owned())),
            None => c.error(&format!("{name}.{key}"), "must be a string"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::plan::check_vendor_url;

    fn resolve(edit: impl FnOnce(&mut Value)) -> Result<Plan, crate::validation::ValidationErrors> {
        let mut config = json!({"token_url": "https://auth.example.com/token", "grant_type": "client_credentials",
                                "client_id": "c"});
        edit(&mut config);
        OAUTH2.resolve(&config, &["client_secret"], false)
    }

    /// Found by the `provider_config` fuzz target: configured lifetimes had no upper bound, and
    /// a huge `default_expires_in` or `refresh.lifetime_seconds` panicked in chrono's arithmetic
    /// (making the duration, or adding it to the clock) instead of being refused.
    #[test]
    fn configured_lifetimes_are_at_most_a_year() {
        let year = 366 * 24 * 3600;
        for huge in [json!(year + 1), json!(9_223_372_036_854_775_i64), json!(i64::MAX), json!(u64::MAX)] {
            let err = resolve(|c| c["default_expires_in"] = huge.clone()).unwrap_err().to_string();
            assert!(err.contains("config.default_expires_in"), "{err}");
            let err = resolve(|c| c["refresh"] = json!({"lifetime_seconds": huge})).unwrap_err().to_string();
            assert!(err.contains("config.refresh.lifetime_seconds"), "{err}");
        }
        for bad in [json!(0), json!(-5), json!(1.5), json!("60")] {
            assert!(resolve(|c| c["refresh"] = json!({"lifetime_seconds": bad})).is_err());
        }
        let plan = resolve(|c| {
            c["default_expires_in"] = json!(year);
            c["refresh"] = json!({"lifetime_seconds": year});
        })
        .unwrap();
        assert_eq!(plan.default_lifetime, Duration::seconds(year));
        assert_eq!(plan.refresh_token_lifetime, Some(Duration::seconds(year)));
        assert!(check_vendor_url(plan.token_url.as_str(), false).is_ok());
    }
}
