//! Reading a vendor's token response by the rules every provider shares (vendors.md):
//! case-insensitive `token_type`, numeric-string `expires_in`, `created_at`, the JWT `exp`
//! fallback, unknown members (`ext_expires_in`…) ignored, and never an eternal token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Map, Value};

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
    let value: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
    let obj = value.as_object().ok_or("body is not a JSON object")?;
    let access_token = match obj.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(_) => return Err("access_token is not a non-empty string"),
        None => return Err("access_token is missing"),
    };
    let token_type = match obj.get("token_type") {
        None | Some(Value::Null) => "Bearer".to_owned(),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
        Some(Value::String(t))
            if !t.is_empty() && t.len() <= 32 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            t.clone()
        }
        Some(_) => return Err("token_type is not a token type"),
    };
    let expires_at = expiry(obj, access_token, now, default_lifetime)?;
    let refresh_token = match obj.get("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s.as_str())),
        None | Some(Value::Null) => None,
        Some(_) => return Err("refresh_token is not a string"),
    };
    let refresh_token_expires_at = refresh_token.as_ref().and_then(|_| {
        seconds(obj.get("refresh_token_expires_in")).map(Duration::seconds).or(refresh_token_lifetime).map(|d| now + d)
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

fn expiry(
    obj: &Map<String, Value>,
    access_token: &str,
    now: DateTime<Utc>,
    default: Duration,
) -> Result<DateTime<Utc>, ParseError> {
    match obj.get("expires_in") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let secs = seconds(Some(v)).ok_or("expires_in is not a number of seconds")?;
            let by_now = now + Duration::seconds(secs);
            // `created_at` (Quiqup) says when the lifetime started; trust the earlier end.
            let by_created = number(obj.get("created_at"))
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

/// A year: longer than any access token should live.
const MAX_LIFETIME: i64 = 366 * 24 * 3600;

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
            let digits: String = desc[start + 6..].chars().take_while(char::is_ascii_digit).collect();
            (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
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
            "[]",
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
    }

    #[test]
    fn error_codes_never_carry_descriptions() {
        let ms = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is 'hunter2'","error_codes":[7000215]}"#;
        assert_eq!(error_code(ms).as_deref(), Some("invalid_client (AADSTS7000215)"));
        assert_eq!(error_code(br#"{"error":"invalid_grant"}"#).as_deref(), Some("invalid_grant"));
        assert_eq!(error_code(br#"{"error":"bad; secret=hunter2"}"#), None);
        assert_eq!(
            error_code(br#"{"type":"about:blank","title":"Unauthorized","status":401}"#).as_deref(),
            Some("Unauthorized")
        );
    }
}
