//! The admin CLI's one error type, each shown as one line that says what failed and where.
//! Nothing here holds a secret: bodies and values are never part of an error.

use std::fmt;

use crate::http::error::Problem;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something that cannot be done (exit status 2, as clap's).
    #[error("{0}")]
    Usage(String),
    /// A setting is missing or unusable (`TOKENBROKER_URL`, `TOKENBROKER_API_KEY`).
    #[error("{0}")]
    Setting(String),
    /// A body or value could not be read, or is not what the API takes.
    #[error("{0}")]
    Input(String),
    /// No HTTP answer: the broker could not be reached at all.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("cannot resolve {host} (from {url}): {reason}")]
    Dns { host: String, url: String, reason: String },
    #[error("TLS with {url} failed: {reason}")]
    Tls { url: String, reason: String },
    /// The broker answered with an error.
    #[error("{0}")]
    Api(Box<ApiFailure>),
    /// A success answer that is not what the API documents.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected { url: String, reason: String },
}

impl CliError {
    /// 2 for a command line that cannot work (as for clap's own usage errors), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// An error answer: the contract's problem+json, or whatever else came back.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub url: String,
    /// `None` when the answer is not problem+json (a proxy, or not a broker at all).
    pub problem: Option<Problem>,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(problem) = &self.problem else {
            let reason =
                reqwest::StatusCode::from_u16(self.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
            let kind = self.content_type.as_deref().map(one_line).unwrap_or_else(|| "no content type".to_owned());
            return write!(
                f,
                "{} {reason} from {}, not a problem+json answer ({kind}): is TOKENBROKER_URL a tokenbroker?",
                self.status, self.url
            );
        };
        write!(f, "{} {}: ", self.status, one_line(&problem.code))?;
        match problem.errors.as_deref() {
            Some(errors) if !errors.is_empty() => {
                let fields: Vec<String> =
                    errors.iter().map(|e| format!("{}: {}", one_line(&e.field), one_line(&e.message))).collect();
                f.write_str(&fields.join("; "))?;
            }
            _ => f.write_str(&one_line(&problem.detail))?,
        }
        if let Some(after) = &self.retry_after {
            write!(f, " (retry after {} s)", one_line(after))?;
        }
        if self.status == 401 {
            f.write_str(" (check TOKENBROKER_API_KEY)")?;
        }
        Ok(())
    }
}

/// Text from the other side, made safe for one terminal line: control characters (newlines,
/// escape sequences) are shown escaped instead of acting on the terminal.
pub fn one_line(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::FieldError;

    fn problem(code: &str, detail: &str, errors: Option<Vec<FieldError>>) -> Problem {
        Problem {
            kind: format!("urn:tokenbroker:problem:{code}"),
            title: "t".into(),
            status: 422,
            detail: detail.into(),
            code: code.into(),
            errors,
        }
    }

    #[test]
    fn a_validation_problem_is_one_line_naming_each_field() {
        let errors = vec![
            FieldError { field: "config.client_id".into(), message: "required".into() },
            FieldError { field: "secrets.client_secret".into(), message: "required".into() },
        ];
        let failure = ApiFailure {
            status: 422,
            url: "http://b/v1/connections".into(),
            problem: Some(problem("invalid_request", "invalid request: …", Some(errors))),
            content_type: Some("application/problem+json".into()),
            retry_after: None,
        };
        assert_eq!(
            failure.to_string(),
            "422 invalid_request: config.client_id: required; secrets.client_secret: required"
        );
    }

    #[test]
    fn control_characters_cannot_break_the_line() {
        let failure = ApiFailure {
            status: 404,
            url: "u".into(),
            problem: Some(problem("not_found", "no\nsuch \u{1b}[31mthing", None)),
            content_type: None,
            retry_after: Some("3".into()),
        };
        let shown = failure.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\u{1b}'), "{shown}");
        assert!(shown.starts_with("404 not_found: no\\nsuch") && shown.ends_with("(retry after 3 s)"), "{shown}");
    }
}
