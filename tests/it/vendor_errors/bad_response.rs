//! A 200 that is not a token response (HTML, truncated JSON, no `access_token`): 502
//! `vendor_bad_response`, and nothing of the vendor's body is handed on.

use super::{assert_last_error, assert_no_vendor_values, wait_as_advised};
use crate::fakes::Fault;
use crate::harness::{app_with_qubs, assert_problem};

async fn bad_response_then_recovers(fault: Fault) {
    let (app, qubs) = app_with_qubs("qubs-main").await;
    qubs.set_fault(fault.clone());
    let resp = app.admin.token_resp("qubs-main", None).await;
    let problem = assert_problem(&resp, 502, "vendor_bad_response");
    assert!(!resp.body.contains("<html"), "{fault:?}: {problem}");
    assert_no_vendor_values(&resp, &qubs.emitted());
    assert_last_error(&app, "qubs-main", "vendor_bad_response").await;
    app.healthz(0).await;

    qubs.set_fault(Fault::None);
    wait_as_advised(&resp).await;
    assert_eq!(
        app.admin.access_token("qubs-main").await,
        qubs.current_token(),
        "{fault:?}: no token once the fault cleared"
    );
}

#[tokio::test]
async fn html_is_502_vendor_bad_response() {
    bad_response_then_recovers(Fault::Html).await;
}

#[tokio::test]
async fn truncated_json_is_502_vendor_bad_response() {
    bad_response_then_recovers(Fault::TruncatedJson).await;
}

#[tokio::test]
async fn missing_access_token_is_502_vendor_bad_response() {
    bad_response_then_recovers(Fault::MissingAccessToken).await;
}

#[tokio::test]
async fn an_access_token_that_would_break_a_header_is_502_vendor_bad_response() {
    bad_response_then_recovers(Fault::HeaderInjection).await;
}
