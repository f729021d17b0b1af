//! One HTTP call to a broker: the URL built from segments (each percent-encoded, so an id can
//! never change the path), the key sent as a sensitive header, and every failure turned into a
//! [`CliError`] that says plainly what went wrong and where.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};

use super::error::{ApiFailure, CliError};
use crate::http::error::{PROBLEM_JSON, Problem};

/// Long enough for a token call that waits on a slow vendor (the broker gives up after 30 s).
const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct BrokerClient {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
}

/// A success answer's body, as it came.
pub struct Answer {
    pub url: String,
    pub body: Vec<u8>,
}

impl BrokerClient {
    pub fn new(url: &str, api_key: Option<&SecretString>) -> Result<BrokerClient, CliError> {
        let base =
            Url::parse(url).map_err(|e| CliError::Setting(format!("TOKENBROKER_URL {url:?} is not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(CliError::Setting(format!(
                "TOKENBROKER_URL must be an http:// or https:// URL with a host, got {}",
                shown(&base)
            )));
        }
        let Some(key) = api_key.filter(|k| !k.expose_secret().trim().is_empty()) else {
            return Err(CliError::Setting(
                "no API key: set TOKENBROKER_API_KEY (or pass --api-key, which other users can see in ps)".into(),
            ));
        };
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret().trim()))
            .map_err(|_| CliError::Setting("TOKENBROKER_API_KEY holds characters a header cannot carry".into()))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("tokenbroker-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .build()
            .map_err(|e| CliError::Setting(format!("cannot set up an HTTP client: {e}")))?;
        Ok(BrokerClient { http, base, authorization })
    }

    /// `method` on the base URL's path plus `segments`, with `query` and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, CliError> {
        let url = self.url(segments, query)?;
        let mut request = self.http.request(method, url.clone()).header(AUTHORIZATION, self.authorization.clone());
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Err(super::transport::describe(&url, &err).await),
        };
        let status = response.status();
        let header = |name| response.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
        let (content_type, retry_after) = (header(CONTENT_TYPE), header(RETRY_AFTER));
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(err) => return Err(super::transport::describe(&url, &err).await),
        };
        if status.is_success() {
            return Ok(Answer { url: shown(&url), body });
        }
        let is_problem = content_type.as_deref().is_some_and(|t| t.starts_with(PROBLEM_JSON));
        let problem = if is_problem { serde_json::from_slice::<Problem>(&body).ok() } else { None };
        Err(CliError::Api(Box::new(ApiFailure {
            status: status.as_u16(),
            url: shown(&url),
            problem,
            content_type,
            retry_after,
        })))
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url, CliError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CliError::Setting(format!("TOKENBROKER_URL {} cannot have a path", shown(&self.base))))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }
}

impl Answer {
    /// The body as the API's documented type.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, CliError> {
        serde_json::from_slice(&self.body).map_err(|e| CliError::Unexpected {
            url: self.url.clone(),
            reason: format!("not the documented JSON ({e})"),
        })
    }
}

/// A URL as it may be shown: without any user name or password it carried.
pub fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}
