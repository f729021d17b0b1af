//! Unit tests of `http::tokens`.

use super::*;

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// The answer's JSON as of now.
fn answered(token: &IssuedToken) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let bytes = body(token, crate::tokens::now_ms()).ok_or("the answer could not be written")?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// The answer written from the cache, first rendered and then copied, is exactly the
/// documented `TokenResponse`.
#[test]
fn the_rendered_answer_is_the_documented_token_response() -> Outcome {
    let expires_at = Utc::now() + chrono::Duration::seconds(100);
    let token = IssuedToken::new(crate::tokens::TokenAnswer {
        connection_id: ConnectionId::parse("id", "qubs-a")?,
        access_token: SecretString::from("t\"\\"),
        token_type: "Bearer".into(),
        expires_at,
        lifetime: crate::tokens::Lifetime { obtained: 0, expires: expires_at.timestamp_millis() },
        headers: vec![("Authorization".to_owned(), SecretString::from("Bearer t\"\\"))],
        api_base_url: Some("https://api.example.com".into()),
        rendered: Default::default(),
    });
    let documented = |expires_in| TokenResponse {
        connection_id: "qubs-a".into(),
        access_token: "t\"\\".into(),
        token_type: "Bearer".into(),
        expires_at,
        expires_in,
        headers: [("Authorization".to_owned(), "Bearer t\"\\".to_owned())].into(),
        api_base_url: Some("https://api.example.com".into()),
    };
    for _ in 0..2 {
        let json = answered(&token)?;
        let expires_in = json["expires_in"].as_i64().ok_or("expires_in is not an integer")?;
        assert!((99..=100).contains(&expires_in), "{json}");
        assert_eq!(json, serde_json::to_value(documented(expires_in))?);
        assert!(token.rendered.get().is_some());
    }
    Ok(())
}

/// A connection without an API base URL has no such key, and a token past its end a zero.
#[test]
fn optional_fields_and_an_expired_token() -> Outcome {
    let token = IssuedToken::new(crate::tokens::TokenAnswer {
        connection_id: ConnectionId::parse("id", "c")?,
        access_token: SecretString::from("t"),
        token_type: "Bearer".into(),
        expires_at: Utc::now() - chrono::Duration::seconds(5),
        lifetime: crate::tokens::Lifetime { obtained: 0, expires: crate::tokens::now_ms() - 5_000 },
        headers: vec![],
        api_base_url: None,
        rendered: Default::default(),
    });
    let json = answered(&token)?;
    assert_eq!(json["expires_in"], 0);
    assert!(json.get("api_base_url").is_none(), "{json}");
    assert_eq!(json["headers"], serde_json::json!({}));
    Ok(())
}
