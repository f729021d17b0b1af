//! A vendor that refuses, fails, stalls or talks nonsense: the caller gets the documented
//! error, the connection records it, the broker stays up, and the next call after the fault
//! clears succeeds.

mod bad_response;
mod rejected;
mod unavailable;

use std::time::Duration;

use serde_json::Value;

use crate::harness::TestApp;
use crate::harness::client::Resp;
use crate::harness::token_answer::parse_time;

/// The connection view's `last_error`, checked to carry `code`.
pub async fn assert_last_error(app: &TestApp, id: &str, code: &str) -> Value {
    let view = app.admin.connection(id).await;
    let error = &view["last_error"];
    assert!(error.is_object(), "after a failed token request the view should show last_error: {view}");
    parse_time(&error["at"]);
    assert_eq!(error["code"], code, "{view}");
    assert!(error["detail"].is_string(), "{view}");
    error.clone()
}

/// `Retry-After` in seconds; it must be there.
pub fn retry_after(resp: &Resp) -> Duration {
    let value = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("{} {} → {} lacks Retry-After: {}", resp.method, resp.path, resp.status, resp.body));
    let seconds: u64 =
        value.trim().parse().unwrap_or_else(|_| panic!("Retry-After {value:?} is not a number of seconds"));
    assert!(seconds >= 1, "Retry-After: {seconds}");
    Duration::from_secs(seconds)
}

/// Longest a test waits on the broker's advice before trying again.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Waits what the failed answer advised (`Retry-After`, if any). A caller cannot know about a
/// back-off it was not told of, so without `Retry-After` the next call must go through.
pub async fn wait_as_advised(failed: &Resp) {
    let Some(value) = failed.header("retry-after") else {
        return;
    };
    let seconds: u64 =
        value.trim().parse().unwrap_or_else(|_| panic!("Retry-After {value:?} is not a number of seconds"));
    let wait = Duration::from_secs(seconds);
    assert!(wait <= MAX_WAIT, "Retry-After {wait:?} after a {} is longer than a caller should wait", failed.status);
    tokio::time::sleep(wait).await;
}

/// No vendor-sent token-like value in an error answer.
pub fn assert_no_vendor_values(resp: &Resp, emitted: &[String]) {
    for value in emitted {
        assert!(!resp.body.contains(value.as_str()), "the error answer repeats what the vendor sent: {}", resp.body);
    }
}
