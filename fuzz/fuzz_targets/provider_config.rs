//! Config validation: a connection's config, for each provider, resolved into the plan its
//! vendor calls follow, as creating or updating a connection does.
//!
//! The input is the provider and the connection's secret names on the first line (`insecure`
//! to allow http and private vendor URLs, as TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS does),
//! then the config as JSON:
//!
//! ```text
//! oauth2 client_secret api_key
//! {"token_url": "https://auth.example.com/token", "grant_type": "client_credentials", …}
//! ```
//!
//! Validation never panics, and whatever validates is usable: its URLs pass the vendor URL
//! rules, its lifetimes are bounded, its requests can be built (well-formed bodies, header
//! values), its endpoints can be shown, and an answer is read with its lifetimes.

#![no_main]

use chrono::{Duration, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokenbroker::fuzzing::{vendor_answer, vendor_request};
use tokenbroker::providers::plan::{BodyFormat, check_vendor_url};
use tokenbroker::providers::{self, Plan};
use tokenbroker::secret::SecretMap;

const EC_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEMK+67851kNoANf8
Gwv21+qZEnJV5l3vcIGMt8IuRUyhRANCAATSZzbXu48rc2ZklIHz/098eC+MHacM
Y/mOwnVNQVa8/FxtYWsN782TrJEfmcKDcBii1a5HO2nuEujAERPX6xOt
-----END PRIVATE KEY-----
";

/// A year: the longest lifetime a config may give access or refresh tokens.
const MAX_LIFETIME: i64 = 366 * 24 * 3600;

fn secrets(names: &[&str]) -> SecretMap {
    let values: serde_json::Map<String, Value> = names
        .iter()
        .map(|&name| {
            let value = if name == "private_key" { EC_PRIVATE_KEY.to_owned() } else { format!("{name}-value") };
            (name.to_owned(), Value::String(value))
        })
        .collect();
    let json = serde_json::to_vec(&values).expect("a map serializes");
    SecretMap::from_plaintext(&json).expect("secrets decode")
}

/// A request body as the vendor would read it: a form, or a JSON object of strings.
fn check_body(format: BodyFormat, body: &[u8]) {
    match format {
        BodyFormat::Form => {
            let ok = body.iter().all(|&b| b.is_ascii_alphanumeric() || b"%+=&*-._".contains(&b));
            assert!(ok, "form body with a raw byte: {}", String::from_utf8_lossy(body));
            for pair in body.split(|&b| b == b'&') {
                assert_eq!(pair.iter().filter(|&&b| b == b'=').count(), 1, "form pair without one '='");
            }
        }
        BodyFormat::Json => {
            let value: Value = serde_json::from_slice(body).expect("a JSON body parses");
            let object = value.as_object().expect("a JSON body is an object");
            assert!(object.values().all(Value::is_string));
        }
    }
}

fn check_request(plan: &Plan, secrets: &SecretMap, refresh: bool) {
    let jar: &[(&str, &str)] = &[("jid", "cookie-value")];
    let (step, format) = match (&plan.refresh, refresh) {
        (Some(r), true) => (Some(("refresh-token-value", jar)), r.body),
        (None, true) => return,
        (_, false) if plan.primary.is_none() => return,
        (_, false) => (None, plan.body),
    };
    match vendor_request(plan, secrets, step) {
        Ok((headers, body)) => {
            check_body(format, &body);
            for (name, value) in headers {
                assert!(!name.is_empty());
                assert!(value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)), "header {name} not visible");
            }
        }
        // A config that validated but whose request cannot be built: only a credential a
        // header cannot carry, or a key that does not sign.
        Err(error) => {
            let detail = error.detail();
            assert!(
                detail.contains("header") || detail.contains("sign") || detail.contains("key"),
                "request for a valid config failed: {detail}"
            );
        }
    }
}

fn check(provider: &providers::ProviderDef, config: &Value, names: &[&str], insecure: bool) {
    let Ok(plan) = provider.resolve(config, names, insecure) else { return };
    for url in std::iter::once(&plan.token_url).chain(plan.refresh.as_ref().map(|r| &r.url)) {
        assert!(check_vendor_url(url.as_str(), insecure).is_ok(), "plan URL {url} breaks the vendor URL rules");
    }
    if let Some(base) = &plan.api_base_url {
        assert!(check_vendor_url(base, insecure).is_ok(), "api_base_url {base} breaks the vendor URL rules");
    }
    let year = Duration::seconds(MAX_LIFETIME);
    assert!(plan.default_lifetime > Duration::zero() && plan.default_lifetime <= year);
    if let Some(lifetime) = plan.refresh_token_lifetime {
        assert!(lifetime > Duration::zero() && lifetime <= year, "refresh lifetime {lifetime}");
    }
    for (name, _) in &plan.headers {
        assert!(!name.is_empty());
    }

    let secrets = secrets(names);
    check_request(&plan, &secrets, false);
    check_request(&plan, &secrets, true);

    let stored: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let shown = provider.endpoints(config, &stored);
    assert!(shown.is_some(), "a valid config whose endpoints cannot be shown");

    // The plan's own lifetimes in use: no `expires_in`, a refresh token without an end.
    let now = Utc.timestamp_opt(1_767_225_600, 0).single().expect("a valid instant");
    let body = br#"{"access_token":"a","refresh_token":"r"}"#;
    let grant = vendor_answer(&plan, 200, &[], body, now).expect("200 is a status").expect("a plain grant is read");
    assert_eq!(grant.expires_at, now + plan.default_lifetime);
    assert_eq!(grant.refresh_token_expires_at, plan.refresh_token_lifetime.map(|l| now + l));
    assert_eq!(grant.access_token.expose_secret(), "a");
}

fuzz_target!(|data: &[u8]| {
    let Some(newline) = data.iter().position(|&b| b == b'\n') else { return };
    let (Ok(head), Ok(config)) = (std::str::from_utf8(&data[..newline]), serde_json::from_slice(&data[newline + 1..]))
    else {
        return;
    };
    let mut words = head.split(' ');
    let Some(provider) = words.next().and_then(providers::find) else { return };
    let mut insecure = false;
    let mut names = Vec::new();
    for word in words {
        match word {
            "insecure" => insecure = true,
            "" => {}
            name => names.push(name),
        }
    }
    check(provider, &config, &names, insecure);
});
