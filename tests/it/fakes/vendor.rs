//! What every fake vendor shares: the credentials it accepts, the faults a test can switch on,
//! counters, and a record of every access token it issued (all unique), so tests can ask which
//! token is current and how many times the broker really called.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::harness::random;

/// How the vendor misbehaves on its next answers, until switched back to `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The vendor refuses the (correct) credentials, in its own error format.
    Reject,
    /// A 5xx answer with a JSON body.
    ServerError(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        retry_after: u64,
    },
    /// Never answers (well past any sane vendor timeout).
    Hang,
    /// 200 with an HTML page, as a misconfigured proxy or login wall answers.
    Html,
    /// 200 with `application/json` that stops half-way.
    TruncatedJson,
    /// 200 with a JSON token response lacking `access_token`.
    MissingAccessToken,
    /// 200 with an `access_token` that carries CR/LF and a header of its own.
    HeaderInjection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStyle {
    /// `header.claims.signature`, with an `exp` claim matching the lifetime.
    Jwt,
    Opaque,
}

struct Behaviour {
    fault: Fault,
    delay: Duration,
    expires_in: i64,
}

pub struct VendorState {
    name: &'static str,
    token_style: TokenStyle,
    client_id: String,
    client_secret: Mutex<String>,
    behaviour: Mutex<Behaviour>,
    calls: AtomicUsize,
    wrong_credentials: AtomicUsize,
    issued: Mutex<Vec<String>>,
    emitted: Mutex<Vec<String>>,
    /// Requests by kind (endpoint or grant), for vendors with more than one way in.
    kinds: Mutex<Vec<String>>,
}

impl VendorState {
    pub fn new(name: &'static str, token_style: TokenStyle) -> VendorState {
        VendorState {
            name,
            token_style,
            client_id: format!("{name}-client-{}", random::hex(6)),
            client_secret: Mutex::new(random::secret(&format!("{name}-client-secret"))),
            behaviour: Mutex::new(Behaviour { fault: Fault::None, delay: Duration::ZERO, expires_in: 3600 }),
            calls: AtomicUsize::new(0),
            wrong_credentials: AtomicUsize::new(0),
            issued: Mutex::new(Vec::new()),
            emitted: Mutex::new(Vec::new()),
            kinds: Mutex::new(Vec::new()),
        }
    }

    /// How many requests of `kind` (an endpoint or grant, as the fake names it) arrived.
    pub fn calls_of(&self, kind: &str) -> usize {
        self.kinds.lock().unwrap().iter().filter(|k| *k == kind).count()
    }

    pub(super) fn note(&self, kind: &str) {
        self.kinds.lock().unwrap().push(kind.to_owned());
    }

    pub fn client_id(&self) -> String {
        self.client_id.clone()
    }

    pub fn client_secret(&self) -> String {
        self.client_secret.lock().unwrap().clone()
    }

    /// From now on only `secret` is accepted (a rotation on the vendor's side).
    pub fn set_client_secret(&self, secret: &str) {
        *self.client_secret.lock().unwrap() = secret.to_owned();
    }

    pub fn set_fault(&self, fault: Fault) {
        self.behaviour.lock().unwrap().fault = fault;
    }

    /// Waits this long before answering anything (to widen races).
    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    /// The lifetime, in seconds, of the tokens issued from now on.
    pub fn set_expires_in(&self, seconds: i64) {
        self.behaviour.lock().unwrap().expires_in = seconds;
    }

    /// Every request that reached the token endpoint.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Requests whose client id or secret was not the configured one.
    pub fn wrong_credential_calls(&self) -> usize {
        self.wrong_credentials.load(Ordering::SeqCst)
    }

    /// Access tokens handed out in successful answers, oldest first.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }

    /// The last access token handed out: the one the broker should be serving.
    pub fn current_token(&self) -> String {
        self.issued().last().cloned().unwrap_or_else(|| panic!("fake {} issued no token yet", self.name))
    }

    /// Every token-like value ever written, in good answers or broken ones.
    pub fn emitted(&self) -> Vec<String> {
        self.emitted.lock().unwrap().clone()
    }

    /// Counts the call and waits the configured delay; returns the fault in force.
    pub(super) async fn begin(&self) -> Fault {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (delay, fault) = {
            let b = self.behaviour.lock().unwrap();
            (b.delay, b.fault.clone())
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        fault
    }

    /// Checks credentials; counts a mismatch.
    pub(super) fn credentials_match(&self, client_id: &str, client_secret: &str) -> bool {
        let ok = client_id == self.client_id && client_secret == self.client_secret();
        if !ok {
            self.wrong_credentials.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }

    /// Counts a wrong credential `credentials_match` cannot see (an assertion another key signed).
    pub(super) fn count_wrong_credentials(&self) {
        self.wrong_credentials.fetch_add(1, Ordering::SeqCst);
    }

    /// A new unique access token and its lifetime, recorded as issued.
    pub(super) fn mint(&self) -> (String, i64) {
        let expires_in = self.behaviour.lock().unwrap().expires_in;
        let token = self.token_value(expires_in);
        self.issued.lock().unwrap().push(token.clone());
        self.emitted.lock().unwrap().push(token.clone());
        (token, expires_in)
    }

    fn token_value(&self, expires_in: i64) -> String {
        let serial = self.emitted.lock().unwrap().len();
        match self.token_style {
            TokenStyle::Opaque => format!("{}-at-{serial}-{}", self.name, random::hex(16)),
            TokenStyle::Jwt => {
                let now = chrono::Utc::now().timestamp();
                let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
                let claims = URL_SAFE_NO_PAD.encode(
                    json!({
                        "iss": format!("https://{}.example", self.name),
                        "sub": self.client_id,
                        "iat": now,
                        "exp": now + expires_in,
                        "jti": format!("{serial}-{}", random::hex(8)),
                    })
                    .to_string(),
                );
                let signature = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
                format!("{header}.{claims}.{signature}")
            }
        }
    }

    /// The answer for a fault other than `Reject` (which each vendor words its own way).
    pub(super) async fn fault_answer(&self, fault: &Fault) -> Option<Response> {
        match fault {
            Fault::None | Fault::Reject => None,
            Fault::ServerError(status) => Some(
                (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    axum::Json(json!({"error": "server_error"})),
                )
                    .into_response(),
            ),
            Fault::TooManyRequests { retry_after } => {
                let mut resp =
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"error": "rate_limited"}))).into_response();
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
                Some(resp)
            }
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                Some(StatusCode::GATEWAY_TIMEOUT.into_response())
            }
            Fault::Html => Some(
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<!doctype html><html><body><h1>Sign in</h1></body></html>",
                )
                    .into_response(),
            ),
            Fault::TruncatedJson => {
                let token = self.token_value(3600);
                self.emitted.lock().unwrap().push(token.clone());
                Some(
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        format!(r#"{{"access_token":"{token}","expires_in":36"#),
                    )
                        .into_response(),
                )
            }
            Fault::MissingAccessToken => {
                Some(axum::Json(json!({"token_type": "Bearer", "expires_in": 3600})).into_response())
            }
            Fault::HeaderInjection => {
                let token = format!("{}\r\nX-Injected: yes", self.token_value(3600));
                self.emitted.lock().unwrap().push(token.clone());
                Some(
                    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
                        .into_response(),
                )
            }
        }
    }
}

/// Serves `router` on an ephemeral loopback port for the rest of the test.
pub(super) async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake vendor");
    let addr = listener.local_addr().expect("fake vendor address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A 400 with a JSON OAuth error, for requests a real vendor would refuse as malformed.
pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

pub(super) fn content_type(headers: &axum::http::HeaderMap) -> String {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase()
}

pub(super) fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_bytes(body).ok()
}

pub type SharedVendor = Arc<VendorState>;

/// What a vendor does when a spent single-use refresh token comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnReuse {
    /// Refuses it (`invalid_grant`); the newer token of the chain keeps working.
    Refuse,
    /// Treats it as theft: the whole chain is revoked for good (QBench).
    RevokeFamily,
}

/// The outcome of presenting a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// Good; for a single-use book it is now spent. `family`: the login it descends from.
    Valid {
        family: u64,
    },
    Unknown,
    /// Spent before: a reuse, recorded.
    Reused,
    /// Its chain was revoked (by a reuse or by the vendor).
    Revoked,
}

#[derive(Default)]
struct Book {
    /// token → (family, spent)
    tokens: HashMap<String, (u64, bool)>,
    issued: Vec<String>,
    presented: Vec<String>,
    revoked: HashSet<u64>,
    families: u64,
    /// Reuses by the broker: each one fails the test.
    reuses: Vec<String>,
    provoked: usize,
}

/// A vendor's refresh tokens. Single-use books spend a token when it is redeemed and record
/// every reuse: a broker that sends a spent single-use token loses the customer's login in
/// production, so the vendor's handle asserts on drop that none happened.
pub struct RefreshTokens {
    label: &'static str,
    single_use: bool,
    on_reuse: OnReuse,
    book: Mutex<Book>,
}

impl RefreshTokens {
    pub fn new(label: &'static str, single_use: bool, on_reuse: OnReuse) -> RefreshTokens {
        RefreshTokens { label, single_use, on_reuse, book: Mutex::new(Book::default()) }
    }

    /// A new refresh token, continuing `family` or starting a new one.
    pub fn issue(&self, family: Option<u64>) -> (String, u64) {
        let mut book = self.book.lock().unwrap();
        let family = family.unwrap_or_else(|| {
            book.families += 1;
            book.families
        });
        let token = format!("{}-rt-{}-{}", self.label, book.issued.len(), random::hex(16));
        book.tokens.insert(token.clone(), (family, false));
        book.issued.push(token.clone());
        (token, family)
    }

    /// The vendor's check of a token the broker presented; a single-use token is spent by it.
    pub fn redeem(&self, token: &str) -> Redeemed {
        let mut book = self.book.lock().unwrap();
        book.presented.push(token.to_owned());
        self.check(&mut book, token, true)
    }

    fn check(&self, book: &mut Book, token: &str, by_broker: bool) -> Redeemed {
        let Some(&(family, spent)) = book.tokens.get(token) else {
            return Redeemed::Unknown;
        };
        if spent {
            if by_broker {
                let serial = book.issued.iter().position(|t| t == token).unwrap_or_default();
                book.reuses
                    .push(format!("{} refresh token #{serial} was presented again after it was spent", self.label));
            } else {
                book.provoked += 1;
            }
            if self.on_reuse == OnReuse::RevokeFamily {
                book.revoked.insert(family);
            }
            return Redeemed::Reused;
        }
        if book.revoked.contains(&family) {
            return Redeemed::Revoked;
        }
        if self.single_use {
            book.tokens.insert(token.to_owned(), (family, true));
        }
        Redeemed::Valid { family }
    }

    /// The vendor revokes every token it ever issued (a password change, an admin's revocation).
    pub fn revoke_all(&self) {
        let mut book = self.book.lock().unwrap();
        let families: Vec<u64> = book.tokens.values().map(|(f, _)| *f).collect();
        book.revoked.extend(families);
    }

    /// Someone other than the broker replays the most recently spent token, on purpose: the
    /// vendor reacts as it would to theft, but the test does not count it against the broker.
    pub fn replay_spent(&self) -> Redeemed {
        let mut book = self.book.lock().unwrap();
        let spent = book.issued.iter().rev().find(|t| book.tokens.get(*t).is_some_and(|(_, spent)| *spent)).cloned();
        let token = spent.unwrap_or_else(|| panic!("{}: no spent refresh token to replay", self.label));
        self.check(&mut book, &token, false)
    }

    /// Refresh tokens handed out, oldest first.
    pub fn issued(&self) -> Vec<String> {
        self.book.lock().unwrap().issued.clone()
    }

    /// Refresh tokens presented by the broker, in order.
    pub fn presented(&self) -> Vec<String> {
        self.book.lock().unwrap().presented.clone()
    }

    /// Reuses the test provoked itself with `replay_spent`.
    pub fn provoked_reuses(&self) -> usize {
        self.book.lock().unwrap().provoked
    }

    /// Panics if the broker ever presented a spent token.
    pub fn assert_no_reuse(&self) {
        let reuses = self.book.lock().unwrap().reuses.clone();
        assert!(reuses.is_empty(), "the broker reused single-use refresh tokens: {reuses:?}");
    }

    /// For a fake's `Drop`: the reuse check, unless the test is already failing.
    pub fn check_on_drop(&self) {
        if !std::thread::panicking() {
            self.assert_no_reuse();
        }
    }
}
