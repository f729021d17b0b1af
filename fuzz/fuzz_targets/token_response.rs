//! The vendor answer parser: a token endpoint's answer (status, headers, body), read as the
//! vendor engine reads it for each preset and the generic `oauth2` provider.
//!
//! The input is an HTTP-like answer, so seeds are real answers from the vendors' docs:
//!
//! ```text
//! STATUS PROVIDER [default_expires_in=N] [refresh_lifetime=N] [now=UNIX]
//! Header-Name: value
//!
//! body
//! ```
//!
//! Every answer gives a grant or a typed error, never a panic; a grant is usable (a non-empty
//! header-safe token, an expiry in the future and bounded); an error says little and bounded
//! (the vendor's error code, never the body).

#![no_main]

use chrono::{DateTime, Duration, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokenbroker::fuzzing::vendor_answer;
use tokenbroker::providers::{self, Plan, VendorError};

/// 2026-01-01T00:00:00Z, unless the answer says otherwise.
const NOW: i64 = 1_767_225_600;
/// The longest lifetime the broker takes from a vendor's answer (a year).
const MAX_LIFETIME: i64 = 366 * 24 * 3600;

/// A valid config and its secrets for each provider.
fn connection(provider: &str) -> Option<(Value, &'static [&'static str])> {
    Some(match provider {
        "qubs" => (json!({"client_id": "c"}), &["client_secret"]),
        "qbench" => (json!({"client_id": "c", "base_url": "https://acme.qbench.net"}), &["client_secret"]),
        "cubu" => (json!({"client_id": "c", "tenant_id": "t", "application_id": "a"}), &["client_secret"]),
        "quiqup" => (json!({"client_id": "c"}), &["client_secret"]),
        "qflow" => (
            json!({"client_id": "c", "username": "ops@example.com"}),
            &["client_secret", "password", "subscription_key"],
        ),
        "oauth2" => (
            json!({"token_url": "https://auth.example.com/token", "grant_type": "client_credentials",
                   "client_id": "c", "refresh": {"rotating": true}}),
            &["client_secret"],
        ),
        _ => return None,
    })
}

struct Answer<'a> {
    plan: Plan,
    status: u16,
    now: DateTime<Utc>,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
}

fn split_once<'a>(data: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = data.windows(separator.len()).position(|w| w == separator)?;
    Some((&data[..at], &data[at + separator.len()..]))
}

fn read(data: &[u8]) -> Option<Answer<'_>> {
    let (head, body) = split_once(data, b"\n\n")?;
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let mut words = lines.next()?.split(' ');
    let status = words.next()?.parse().ok()?;
    let provider = providers::find(words.next()?)?;
    let (mut config, secrets) = connection(provider.name)?;
    let mut now = NOW;
    for word in words {
        let (name, number) = word.split_once('=')?;
        let number: i64 = number.parse().ok()?;
        match name {
            "default_expires_in" if provider.name == "oauth2" => config["default_expires_in"] = number.into(),
            "refresh_lifetime" if provider.name == "oauth2" => config["refresh"]["lifetime_seconds"] = number.into(),
            // Between 2000 and 2100: the broker's clock, not any instant.
            "now" => now = number.clamp(946_684_800, 4_102_444_800),
            _ => return None,
        }
    }
    // Only a config that validates is ever stored and used.
    let plan = provider.resolve(&config, secrets, false).ok()?;
    let headers = lines.filter_map(|line| line.split_once(": ")).map(|(n, v)| (n, v.as_bytes())).collect();
    let now = Utc.timestamp_opt(now, 0).single()?;
    Some(Answer { plan, status, now, headers, body })
}

fn check(answer: &Answer<'_>) {
    let Some(result) = vendor_answer(&answer.plan, answer.status, &answer.headers, answer.body, answer.now) else {
        return;
    };
    let now = answer.now;
    match result {
        Ok(grant) => {
            assert!((200..300).contains(&answer.status), "a grant from http {}", answer.status);
            let token = grant.access_token.expose_secret();
            assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()), "token unfit for a header");
            assert!(!grant.token_type.is_empty() && grant.token_type.len() <= 32);
            assert_eq!(grant.obtained_at, now);
            assert!(grant.expires_at > now, "a grant that is already expired");
            let longest = answer.plan.default_lifetime.max(Duration::seconds(MAX_LIFETIME));
            assert!(grant.expires_at <= now + longest, "a grant that lives longer than {longest}");
            if let Some(refresh) = &grant.refresh_token {
                assert!(refresh.expose_secret().bytes().all(|b| b.is_ascii_graphic()));
            }
            if let Some(at) = grant.refresh_token_expires_at {
                assert!(grant.refresh_token.is_some());
                assert!(at > now, "a refresh token that is already expired");
            }
            for (name, _) in &grant.cookies {
                assert!(!name.is_empty());
            }
        }
        Err(error) => {
            let detail = error.detail();
            assert!(detail.len() <= 512, "an error detail of {} bytes", detail.len());
            match error {
                VendorError::Rejected { status, code, .. } => {
                    assert!((400..500).contains(&status) && status != 429, "rejected with http {status}");
                    assert!(code.len() <= 128, "a vendor error code of {} bytes", code.len());
                }
                VendorError::InvalidGrant { status, .. } => assert!((400..500).contains(&status)),
                VendorError::Unavailable { why: _, retry_after, maybe_received, .. } => {
                    assert!(answer.status == 429 || answer.status >= 500, "unavailable on http {}", answer.status);
                    assert!(maybe_received);
                    if let Some(after) = retry_after {
                        assert!((1..=3600).contains(&after.as_secs()), "retry after {after:?}");
                    }
                }
                VendorError::BadResponse { status, content_type, .. } => {
                    assert_eq!(status, answer.status);
                    assert!(content_type.chars().count() <= 100);
                }
                VendorError::Config(message) => panic!("a config error from an answer: {message}"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(answer) = read(data) {
        check(&answer);
    }
});
