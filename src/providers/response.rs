//! Reading a vendor's token response by the rules every provider shares (vendors.md):
//! case-insensitive `token_type`, numeric-string `expires_in`, `created_at`, the JWT `exp`
//! fallback, unknown members (`ext_expires_in`…) ignored, and never an eternal token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::secret::ZeroizingString;

/// What a vendor gave us in exchange for a grant.
pub struct TokenGrant {
    pub access_token: SecretString,
    pub token_type: String,
    pub obtained_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub refresh_token: Option<SecretString>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// Cookies set by the token response (name, value), to send back on refresh.
    pub cookies: Vec<(String, SecretString)>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a 2xx body is not a usable token response. Names no value from the body.
pub type ParseError = &'static str;

pub fn parse_token_body(
    body: &[u8],
    now: DateTime<Utc>,
    default_lifetime: Duration,
    refresh_token_lifetime: Option<Duration>,
) -> Result<TokenGrant, ParseError> {
    let raw: RawGrant = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => "body is not a JSON object",
        _ => "body is not JSON",
    })?;
    let access_token = match &raw.access_token {
        Secret::Given(s) if s.0.is_empty() => return Err("access_token is not a non-empty string"),
        // It is handed out inside an `Authorization` header: refuse what could break out of it.
        Secret::Given(s) if !is_header_safe(&s.0) => return Err("access_token has characters a header cannot carry"),
        Secret::Given(s) => s.0.as_str(),
        Secret::Missing => return Err("access_token is missing"),
        Secret::Null | Secret::WrongType => return Err("access_token is not a non-empty string"),
    };
    let token_type = match &raw.token_type {
        None | Some(Value::Null) => "Bearer".to_owned(),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
        Some(Value::String(t))
            if !t.is_empty() && t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            t.clone()
        }
        Some(_) => return Err("token_type is not a token type"),
    };
    let expires_at = expiry(&raw, access_token, now, default_lifetime)?;
    let refresh_token = match &raw.refresh_token {
        Secret::Given(s) if s.0.is_empty() => None,
        Secret::Given(s) if !is_header_safe(&s.0) => return Err("refresh_token has characters a request cannot carry"),
        Secret::Given(s) => Some(SecretString::from(s.0.as_str())),
        Secret::Missing | Secret::Null => None,
        Secret::WrongType => return Err("refresh_token is not a string"),
    };
    // `refresh_token_expires_in` (Microsoft and others) or `refresh_expires_in` (Keycloak), else
    // what the provider documents.
    let refresh_token_expires_at = refresh_token.as_ref().and_then(|_| {
        seconds(raw.refresh_token_expires_in.as_ref())
            .or_else(|| seconds(raw.refresh_expires_in.as_ref()))
            // Keycloak says 0 for offline tokens that do not expire by time.
            .filter(|secs| *secs > 0)
            .map(Duration::seconds)
            .or(refresh_token_lifetime)
            .map(|d| now + d)
    });
    Ok(TokenGrant {
        access_token: SecretString::from(access_token),
        token_type,
        obtained_at: now,
        expires_at,
        refresh_token,
        refresh_token_expires_at,
        cookies: Vec::new(),
    })
}

/// The members of a token response the broker reads. The two credentials are read into
/// buffers wiped when dropped; everything else is plain facts.
#[derive(Deserialize)]
struct RawGrant {
    #[serde(default)]
    access_token: Secret,
    #[serde(default)]
    refresh_token: Secret,
    token_type: Option<Value>,
    expires_in: Option<Value>,
    created_at: Option<Value>,
    refresh_token_expires_in: Option<Value>,
    refresh_expires_in: Option<Value>,
}

/// A member that should hold a secret string.
#[derive(Default)]
enum Secret {
    #[default]
    Missing,
    Null,
    Given(ZeroizingString),
    WrongType,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::Given(ZeroizingString(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret::Given(ZeroizingString(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
        Ok(Secret::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Secret, E> {
        Ok(Secret::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Ok(Secret::WrongType)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Ok(Secret::WrongType)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Ok(Secret::WrongType)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Ok(Secret::WrongType)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Secret, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Secret::WrongType)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Secret::WrongType)
    }
}

/// Visible ASCII only: what may stand in an HTTP header value or a form field unescaped.
fn is_header_safe(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

fn expiry(
    raw: &RawGrant,
    access_token: &str,
    now: DateTime<Utc>,
    default: Duration,
) -> Result<DateTime<Utc>, ParseError> {
    match &raw.expires_in {
        None | Some(Value::Null) => {}
        Some(v) => {
            let secs = seconds(Some(v)).ok_or("expires_in is not a number of seconds")?;
            let by_now = now + Duration::seconds(secs);
            // `created_at` (Quiqup) says when the lifetime started; trust the earlier end.
            let by_created = number(raw.created_at.as_ref())
                .and_then(|c| Utc.timestamp_opt(c, 0).single())
                .and_then(|created| created.checked_add_signed(Duration::seconds(secs)));
            let expires_at = by_created.map_or(by_now, |c| c.min(by_now));
            if expires_at <= now {
                return Err("the token is already expired");
            }
            return Ok(expires_at);
        }
    }
    // A JWT's own `exp` is a hint only: never in the past, never beyond the longest lifetime we accept.
    let longest = now + Duration::seconds(MAX_LIFETIME);
    Ok(jwt_exp(access_token).filter(|exp| *exp > now).map_or(now + default, |exp| exp.min(longest)))
}

/// A year: longer than any access token should live. Also the longest lifetime a config may
/// state (`default_expires_in`, `refresh.lifetime_seconds`), so that any lifetime added to
/// the clock stays far inside chrono's range.
pub(super) const MAX_LIFETIME: i64 = 366 * 24 * 3600;

/// A whole number, as a JSON number or a numeric string.
fn number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A lifetime in seconds: non-negative and at most a year.
fn seconds(value: Option<&Value>) -> Option<i64> {
    let secs = number(value)?;
    (0..=MAX_LIFETIME).contains(&secs).then_some(secs)
}

/// The `exp` of an access token that is a JWT (read, not verified: it is only a lifetime hint).
fn jwt_exp(token: &str) -> Option<DateTime<Utc>> {
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Utc.timestamp_opt(claims.get("exp")?.as_i64()?, 0).single()
}

/// The vendor's error code from an error body, reduced to something safe to show and log:
/// OAuth `error`, plus the AADSTS code of Microsoft-style bodies. Never free text that could
/// echo a secret back (Microsoft's `error_description` can).
pub fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let error = obj.get("error").and_then(Value::as_str).filter(|e| is_code(e));
    let aadsts = obj
        .get("error_codes")
        .and_then(Value::as_array)
        .and_then(|codes| codes.first())
        .and_then(Value::as_i64)
        .map(|n| format!("AADSTS{n}"))
        .or_else(|| {
            let desc = obj.get("error_description")?.as_str()?;
            let start = desc.find("AADSTS")?;
            // Microsoft's codes have at most 7 digits; a longer run is not a code (and would
            // put up to the whole body into the error).
            let digits: String =
                desc[start + 6..].chars().take_while(char::is_ascii_digit).take(MAX_AADSTS_DIGITS + 1).collect();
            (1..=MAX_AADSTS_DIGITS).contains(&digits.len()).then(|| format!("AADSTS{digits}"))
        });
    let title = obj.get("title").and_then(Value::as_str).filter(|t| is_code(t));
    match (error, aadsts, title) {
        (Some(e), Some(a), _) => Some(format!("{e} ({a})")),
        (Some(e), None, _) => Some(e.to_owned()),
        (None, Some(a), _) => Some(a),
        (None, None, Some(t)) => Some(t.to_owned()),
        _ => None,
    }
}

/// The longest AADSTS code read from an `error_description`.
const MAX_AADSTS_DIGITS: usize = 10;

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenGrant, ParseError> {
        parse_token_body(body.as_bytes(), Utc.timestamp_opt(1_700_000_000, 0).unwrap(), Duration::seconds(300), None)
    }

    #[test]
    fn token_type_is_case_insensitive_and_expires_in_may_be_a_string() {
        let g = parse(r#"{"access_token":"a","token_type":"bearer","expires_in":"3600"}"#).unwrap();
        assert_eq!(g.token_type, "Bearer");
        assert_eq!(g.expires_at.timestamp(), 1_700_003_600);
        let g = parse(r#"{"access_token":"a","token_type":"BEARER","expires_in":3599,"ext_expires_in":"x"}"#).unwrap();
        assert_eq!(g.expires_at.timestamp(), 1_700_003_599);
    }

    #[test]
    fn created_at_wins_when_earlier() {
        let g =
            parse(r#"{"access_token":"a","created_at":1699999000,"expires_in":3600,"token_type":"bearer"}"#).unwrap();
        assert_eq!(g.expires_at.timestamp(), 1_700_002_600);
        // Created so long ago that it is dead on arrival: not a usable token response.
        assert!(parse(r#"{"access_token":"a","created_at":1699990000,"expires_in":3600}"#).is_err());
        let g = parse(r#"{"access_token":"a","created_at":1800000000,"expires_in":3600}"#).unwrap();
        assert_eq!(g.expires_at.timestamp(), 1_700_003_600, "a created_at in the future does not extend the lifetime");
    }

    #[test]
    fn jwt_exp_then_default_when_no_expires_in() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp":1700000900}"#);
        let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig");
        let g = parse(&format!(r#"{{"access_token":"{jwt}"}}"#)).unwrap();
        assert_eq!(g.expires_at.timestamp(), 1_700_000_900);
        let g = parse(r#"{"access_token":"opaque"}"#).unwrap();
        assert_eq!(g.expires_at.timestamp(), 1_700_000_300);
    }

    #[test]
    fn unusable_bodies_are_refused() {
        for body in [
            "<html>",
            r#"{"access_token":"a""#,
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a\r\nX-Injected: 1"}"#,
            r#"{"access_token":"a b"}"#,
            r#"{"access_token":7}"#,
            r#"{"access_token":"a","refresh_token":["r"]}"#,
            "[]",
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn refresh_token_lifetimes_from_the_answer_or_the_provider() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let at = |body: &str, lifetime| {
            parse_token_body(body.as_bytes(), now, Duration::seconds(300), lifetime).unwrap().refresh_token_expires_at
        };
        let keycloak = r#"{"access_token":"a","expires_in":300,"refresh_token":"r","refresh_expires_in":1800}"#;
        assert_eq!(at(keycloak, None), Some(now + Duration::seconds(1800)));
        let microsoft = r#"{"access_token":"a","refresh_token":"r","refresh_token_expires_in":"86400"}"#;
        assert_eq!(at(microsoft, Some(Duration::days(7))), Some(now + Duration::seconds(86400)));
        let silent = r#"{"access_token":"a","refresh_token":"r"}"#;
        assert_eq!(at(silent, Some(Duration::seconds(20))), Some(now + Duration::seconds(20)));
        assert_eq!(at(silent, None), None);
        let offline = r#"{"access_token":"a","refresh_token":"r","refresh_expires_in":0}"#;
        assert_eq!(at(offline, None), None);
    }

    #[test]
    fn error_codes_never_carry_descriptions() {
        let ms = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is 'hunter2'","error_codes":[7000215]}"#;
        assert_eq!(error_code(ms).as_deref(), Some("invalid_client (AADSTS7000215)"));
        assert_eq!(error_code(br#"{"error":"invalid_grant"}"#).as_deref(), Some("invalid_grant"));
        assert_eq!(error_code(br#"{"error":"bad; secret=hunter2"}"#), None);
        assert_eq!(
            error_code(br#"{"error_description":"AADSTS90002: Tenant not found."}"#).as_deref(),
            Some("AADSTS90002")
        );
        assert_eq!(
            error_code(br#"{"type":"about:blank","title":"Unauthorized","status":401}"#).as_deref(),
            Some("Unauthorized")
        );
    }

    /// Found by the `token_response` fuzz target: a run of digits after `AADSTS` was taken
    /// whole, so a 401 whose description held a long number put all of it into the error
    /// callers, logs and `last_error` are given.
    #[test]
    fn aadsts_codes_from_descriptions_are_bounded() {
        let long = format!(r#"{{"error":"invalid_client","error_description":"AADSTS{}"}}"#, "7".repeat(300));
        assert_eq!(error_code(long.as_bytes()).as_deref(), Some("invalid_client"));
        let long = format!(r#"{{"error_description":"AADSTS{}: x"}}"#, "1".repeat(11));
        assert_eq!(error_code(long.as_bytes()), None);
        let ten = format!(r#"{{"error_description":"AADSTS{}: x"}}"#, "1".repeat(10));
        assert_eq!(error_code(ten.as_bytes()), Some(format!("AADSTS{}", "1".repeat(10))));
    }
}
