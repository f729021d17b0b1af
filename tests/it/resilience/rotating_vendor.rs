//! A strict OAuth 2.0 token endpoint whose refresh tokens are single-use, as QBench's and
//! Qflow's are: `client_credentials` issues an access and a refresh token; `refresh_token`
//! consumes the one presented and issues a new pair. A refresh token presented a second time
//! (or one it never issued) is a **reuse event** and gets 400 `invalid_grant` — the event the
//! broker must never cause, because a real vendor then revokes the whole chain.
//!
//! The ledger keeps what the tests judge by: every call with its time and grant, every refresh
//! token ever presented, every access token with its real expiry. A hold parks answers until
//! the test releases them, so a broker can be killed or stopped while a refresh is in flight.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::fakes::Fault;
use crate::harness::random;

/// Which grant a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials,
    RefreshToken,
    Other,
}

#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub at: Instant,
    pub grant: Grant,
}

struct Ledger {
    lifetime_secs: i64,
    fault: Fault,
    client_secret: String,
    live_refresh: HashSet<String>,
    presented: Vec<String>,
    reuse: Vec<String>,
    access_expiry: HashMap<String, DateTime<Utc>>,
    access_order: Vec<String>,
    calls: Vec<Call>,
    wrong_credentials: usize,
    serial: usize,
}

struct Inner {
    client_id: String,
    ledger: Mutex<Ledger>,
    /// True while answers to refresh grants are parked.
    hold: watch::Sender<bool>,
    parked: AtomicUsize,
}

pub struct RotatingVendor {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

impl RotatingVendor {
    /// Access tokens live an hour until [`RotatingVendor::set_lifetime`] says otherwise.
    pub async fn start() -> RotatingVendor {
        let inner = Arc::new(Inner {
            client_id: format!("rotating-client-{}", random::hex(6)),
            ledger: Mutex::new(Ledger {
                lifetime_secs: 3600,
                fault: Fault::None,
                client_secret: random::secret("rotating-client-secret"),
                live_refresh: HashSet::new(),
                presented: Vec::new(),
                reuse: Vec::new(),
                access_expiry: HashMap::new(),
                access_order: Vec::new(),
                calls: Vec::new(),
                wrong_credentials: 0,
                serial: 0,
            }),
            hold: watch::Sender::new(false),
            parked: AtomicUsize::new(0),
        });
        let router = Router::new().route("/token", post(token)).with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind rotating vendor");
        let addr = listener.local_addr().expect("rotating vendor address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        RotatingVendor { inner, addr }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner.ledger.lock().unwrap()
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// An `oauth2` connection with a primary grant (client credentials) to fall back on, and
    /// single-use refresh tokens.
    pub fn connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "oauth2",
            "description": "single-use refresh tokens (fake)",
            "config": self.config("client_credentials"),
            "secrets": {"client_secret": self.client_secret()},
        })
    }

    /// An `oauth2` connection with no primary grant: only a refresh token, issued now as if
    /// by the vendor's consent flow. Losing it must mean `needs_reauth`, never a reuse.
    pub fn refresh_only_connection(&self, id: &str) -> (Value, String) {
        let refresh_token = self.seed_refresh_token();
        let body = json!({
            "id": id,
            "provider": "oauth2",
            "description": "single-use refresh tokens, no primary grant (fake)",
            "config": self.config("refresh_token"),
            "secrets": {"client_secret": self.client_secret(), "refresh_token": refresh_token},
        });
        (body, refresh_token)
    }

    fn config(&self, grant_type: &str) -> Value {
        json!({
            "token_url": self.token_url(),
            "grant_type": grant_type,
            "client_id": self.inner.client_id,
            "client_auth": "body",
            "body_format": "form",
            "refresh": {"rotating": true},
        })
    }

    /// A valid refresh token, handed over outside the token endpoint.
    pub fn seed_refresh_token(&self) -> String {
        let mut ledger = self.ledger();
        let token = next_value(&mut ledger, "rt");
        ledger.live_refresh.insert(token.clone());
        token
    }

    pub fn client_secret(&self) -> String {
        self.ledger().client_secret.clone()
    }

    /// From now on only `secret` is accepted (a rotation on the vendor's side).
    pub fn set_client_secret(&self, secret: &str) {
        self.ledger().client_secret = secret.to_owned();
    }

    /// Lifetime, in seconds, of access tokens issued from now on.
    pub fn set_lifetime(&self, seconds: i64) {
        self.ledger().lifetime_secs = seconds;
    }

    pub fn set_fault(&self, fault: Fault) {
        self.ledger().fault = fault;
    }

    /// Parks answers to refresh grants — processed first, as by a vendor that received the
    /// request — until [`RotatingVendor::release`].
    pub fn hold_refreshes(&self) {
        self.inner.hold.send_replace(true);
    }

    pub fn release(&self) {
        self.inner.hold.send_replace(false);
    }

    /// Waits until `n` answers are parked; panics after `timeout`.
    pub async fn wait_parked(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.inner.parked.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the vendor did not receive {n} held request(s) within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every request, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.ledger().calls.clone()
    }

    pub fn calls_of(&self, grant: Grant) -> usize {
        self.ledger().calls.iter().filter(|c| c.grant == grant).count()
    }

    /// Every refresh token ever presented, in order.
    pub fn presented(&self) -> Vec<String> {
        self.ledger().presented.clone()
    }

    /// Refresh tokens presented after they were spent (or never issued).
    pub fn reuse_events(&self) -> Vec<String> {
        self.ledger().reuse.clone()
    }

    /// When an access token really expires; `None` if this vendor never issued it.
    pub fn expiry_of(&self, access_token: &str) -> Option<DateTime<Utc>> {
        self.ledger().access_expiry.get(access_token).copied()
    }

    /// The access token issued last (whether or not its answer was delivered).
    pub fn last_access_token(&self) -> String {
        self.ledger().access_order.last().cloned().expect("the rotating vendor issued no access token yet")
    }

    pub fn wrong_credential_calls(&self) -> usize {
        self.ledger().wrong_credentials
    }
}

fn next_value(ledger: &mut Ledger, kind: &str) -> String {
    ledger.serial += 1;
    format!("rot-{kind}-{}-{}", ledger.serial, random::hex(12))
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

async fn token(State(vendor): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let params: Option<HashMap<String, String>> = content_type
        .starts_with("application/x-www-form-urlencoded")
        .then(|| serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).ok())
        .flatten()
        .map(|pairs| pairs.into_iter().collect());
    let Some(params) = params else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let grant = match params.get("grant_type").map(String::as_str) {
        Some("client_credentials") => Grant::ClientCredentials,
        Some("refresh_token") => Grant::RefreshToken,
        _ => Grant::Other,
    };
    let outcome = {
        let mut ledger = vendor.ledger.lock().unwrap();
        ledger.calls.push(Call { at: Instant::now(), grant });
        let authenticated = params.get("client_id") == Some(&vendor.client_id)
            && params.get("client_secret") == Some(&ledger.client_secret);
        if !authenticated {
            ledger.wrong_credentials += 1;
            Outcome::Refused(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"))
        } else if ledger.fault != Fault::None {
            // A failing vendor has not processed the grant: nothing is consumed.
            Outcome::Fault(ledger.fault.clone())
        } else {
            process(&mut ledger, grant, &params)
        }
    };
    let answer = match outcome {
        Outcome::Token(body) => axum::Json(body).into_response(),
        Outcome::Refused(resp) => resp,
        Outcome::Fault(fault) => fault_answer(&fault).await,
    };
    park(&vendor, grant).await;
    answer
}

enum Outcome {
    Token(Value),
    Refused(Response),
    Fault(Fault),
}

/// Runs the grant against the ledger: the new pair, or `invalid_grant` for a reuse.
fn process(ledger: &mut Ledger, grant: Grant, params: &HashMap<String, String>) -> Outcome {
    match grant {
        Grant::ClientCredentials => {}
        Grant::RefreshToken => {
            let presented = params.get("refresh_token").cloned().unwrap_or_default();
            ledger.presented.push(presented.clone());
            if !ledger.live_refresh.remove(&presented) {
                ledger.reuse.push(presented);
                return Outcome::Refused(oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"));
            }
        }
        Grant::Other => return Outcome::Refused(oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type")),
    }
    let access_token = next_value(ledger, "at");
    let refresh_token = next_value(ledger, "rt");
    let lifetime = ledger.lifetime_secs;
    ledger.access_expiry.insert(access_token.clone(), Utc::now() + chrono::Duration::seconds(lifetime));
    ledger.access_order.push(access_token.clone());
    ledger.live_refresh.insert(refresh_token.clone());
    Outcome::Token(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": refresh_token,
    }))
}

/// Holds a refresh grant's answer while the test says so. The count drops even if the broker
/// hangs up and the answer is abandoned.
async fn park(vendor: &Inner, grant: Grant) {
    let mut hold = vendor.hold.subscribe();
    if grant != Grant::RefreshToken || !*hold.borrow_and_update() {
        return;
    }
    struct Parked<'a>(&'a AtomicUsize);
    impl Drop for Parked<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    vendor.parked.fetch_add(1, Ordering::SeqCst);
    let _parked = Parked(&vendor.parked);
    let _ = hold.wait_for(|held| !held).await;
}

async fn fault_answer(fault: &Fault) -> Response {
    match fault {
        // `None` never gets here; `Reject` refuses the (correct) credentials.
        Fault::None | Fault::Reject => oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
        Fault::ServerError(status) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(json!({"error": "server_error"}))).into_response()
        }
        Fault::TooManyRequests { retry_after } => {
            let mut resp = oauth_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            resp
        }
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Fault::Html => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<!doctype html><h1>Sign in</h1>").into_response()
        }
        Fault::TruncatedJson => {
            ([(header::CONTENT_TYPE, "application/json")], r#"{"access_token":"rot-at-cut","expires_in":36"#)
                .into_response()
        }
        Fault::MissingAccessToken => {
            axum::Json(json!({"token_type": "Bearer", "expires_in": 3600, "refresh_token": "rot-rt-orphan"}))
                .into_response()
        }
        #[allow(unreachable_patterns)]
        other => panic!("the rotating vendor does not play {other:?}"),
    }
}

/// The detector the other tests rely on: a refresh token presented twice is a reuse event.
#[tokio::test]
async fn a_refresh_token_presented_twice_is_a_reuse_event() {
    let vendor = RotatingVendor::start().await;
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let refresh = |token: String| {
        let form = [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token),
            ("client_id", vendor.inner.client_id.clone()),
            ("client_secret", vendor.client_secret()),
        ];
        http.post(vendor.token_url()).form(&form).send()
    };
    let seeded = vendor.seed_refresh_token();
    let first = refresh(seeded.clone()).await.expect("first refresh");
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.expect("token answer");
    assert!(vendor.expiry_of(body["access_token"].as_str().expect("access_token")).is_some());
    assert!(vendor.reuse_events().is_empty());

    let again = refresh(seeded.clone()).await.expect("second refresh");
    assert_eq!(again.status(), 400);
    assert_eq!(again.json::<Value>().await.expect("error answer")["error"], "invalid_grant");
    assert_eq!(vendor.reuse_events(), vec![seeded.clone()]);
    assert_eq!(vendor.presented(), vec![seeded.clone(), seeded]);
    assert_eq!(vendor.calls_of(Grant::RefreshToken), 2);
}
