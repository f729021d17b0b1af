//! A typed HTTP client for the broker's API. Every typed call states the status it expects and
//! fails with the full answer otherwise, so a test reads as the contract does. `raw` builds any
//! request (no key, other headers, a body that is not JSON) for the error paths.
//!
//! Every exchange is written to a transcript shared by all clients of one test app, so the
//! secrecy tests can search every answer the broker gave.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct Transcript(Arc<Mutex<Vec<Exchange>>>);

impl Transcript {
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.0.lock().unwrap().clone()
    }

    fn record(&self, exchange: Exchange) {
        self.0.lock().unwrap().push(exchange);
    }
}

/// One answer, whatever its status.
#[derive(Debug)]
pub struct Resp {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!("{} {} → {}: body is not JSON ({e}): {:?}", self.method, self.path, self.status, self.body)
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// Asserts the status and returns the body as JSON (`null` when empty, as for 204).
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "{} {}: expected {status}, got {}; body: {}",
            self.method, self.path, self.status, self.body
        );
        if self.body.is_empty() { Value::Null } else { self.json() }
    }
}

#[derive(Clone)]
pub struct TestClient {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    transcript: Transcript,
}

impl TestClient {
    /// Polls `GET path` until it answers `status` (transport failures count as "not yet"),
    /// failing after 15 s with what it last saw.
    pub async fn wait_for_status(&self, path: &str, status: u16) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let got = self.raw(reqwest::Method::GET, path).try_send().await.map(|r| (r.status, r.body));
            if matches!(&got, Ok((s, _)) if *s == status) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}{path}: expected {status}, still {got:?} after 15 s",
                self.base
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub fn new(base: &str, key: Option<&str>, transcript: Transcript) -> TestClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            // Longer than any vendor timeout plus retries the broker may do, shorter than a hang.
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        TestClient { http, base: base.trim_end_matches('/').to_owned(), key: key.map(str::to_owned), transcript }
    }

    /// The same broker and key, from another local address (127.0.0.0/8 is all loopback):
    /// another source, as the broker's per-address limits see it.
    pub fn via_address(&self, local: std::net::IpAddr) -> TestClient {
        let http = reqwest::Client::builder()
            .no_proxy()
            .local_address(local)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        TestClient { http, ..self.clone() }
    }

    /// The same broker, another API key.
    pub fn with_key(&self, key: &str) -> TestClient {
        TestClient { key: Some(key.to_owned()), ..self.clone() }
    }

    /// The same broker, no `Authorization` header at all.
    pub fn anonymous(&self) -> TestClient {
        TestClient { key: None, ..self.clone() }
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn raw(&self, method: Method, path: &str) -> RawRequest {
        RawRequest {
            client: self.clone(),
            method,
            path: path.to_owned(),
            auth: self.key.as_ref().map(|k| format!("Bearer {k}")),
            headers: Vec::new(),
            body: None,
        }
    }

    pub async fn get(&self, path: &str, expect: u16) -> Value {
        self.raw(Method::GET, path).send().await.expect(expect)
    }

    pub async fn post(&self, path: &str, body: &Value, expect: u16) -> Value {
        self.raw(Method::POST, path).json(body).send().await.expect(expect)
    }

    pub async fn put(&self, path: &str, body: &Value, expect: u16) -> Value {
        self.raw(Method::PUT, path).json(body).send().await.expect(expect)
    }

    pub async fn patch(&self, path: &str, body: &Value, expect: u16) -> Value {
        self.raw(Method::PATCH, path).json(body).send().await.expect(expect)
    }

    pub async fn delete(&self, path: &str, expect: u16) -> Value {
        self.raw(Method::DELETE, path).send().await.expect(expect)
    }
}

pub struct RawRequest {
    client: TestClient,
    method: Method,
    path: String,
    auth: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl RawRequest {
    pub fn no_auth(mut self) -> Self {
        self.auth = None;
        self
    }

    /// Replaces the whole `Authorization` header value.
    pub fn authorization(mut self, value: &str) -> Self {
        self.auth = Some(value.to_owned());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.body("application/json", serde_json::to_vec(body).expect("JSON body"))
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.headers.push(("content-type".to_owned(), content_type.to_owned()));
        self.body = Some(body.into());
        self
    }

    /// A body with no `Content-Type` header at all.
    pub fn body_without_content_type(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub async fn send(self) -> Resp {
        let what = format!("{} {}{}", self.method, self.client.base, self.path);
        self.try_send().await.unwrap_or_else(|e| panic!("{what}: no answer: {e}"))
    }

    /// Like `send`, with a transport failure returned instead of panicking.
    pub async fn try_send(self) -> Result<Resp, String> {
        let url = format!("{}{}", self.client.base, self.path);
        let mut req = self.client.http.request(self.method.clone(), &url);
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        if let Some(body) = self.body {
            req = req.body(body);
        }
        let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.map_err(|e| format!("body not read: {e:?}"))?;
        self.client.transcript.record(Exchange {
            method: self.method.to_string(),
            path: self.path.clone(),
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body: body.clone(),
        });
        Ok(Resp { method: self.method.to_string(), path: self.path, status, headers, body })
    }
}
