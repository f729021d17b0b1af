//! SIGTERM is how orchestrators stop replicas: finish what is in flight, then exit 0.

use std::time::{Duration, Instant};

use crate::fakes::FakeQubs;
use crate::harness::spawn_app;

#[tokio::test]
async fn sigterm_exits_zero() {
    let mut app = spawn_app().await;
    app.healthz(0).await;
    app.broker(0).sigterm();
    let status =
        app.broker_mut(0).wait_exit(Duration::from_secs(10)).await.expect("broker still running 10 s after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_token_request_finish() {
    let mut app = spawn_app().await;
    let qubs = FakeQubs::start().await;
    app.admin.create_connection(&qubs.connection("qubs-main")).await;
    // Long enough to signal mid-call, short of the 1.5 s vendor timeout.
    qubs.set_delay(Duration::from_millis(800));

    let admin = app.admin.clone();
    let in_flight = tokio::spawn(async move { admin.token_resp("qubs-main", None).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while qubs.calls() == 0 {
        assert!(Instant::now() < deadline, "the broker never called the vendor");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.broker(0).sigterm();

    let resp = in_flight.await.expect("request task");
    let body = resp.expect(200);
    assert_eq!(body["access_token"], qubs.current_token().as_str());
    let status =
        app.broker_mut(0).wait_exit(Duration::from_secs(10)).await.expect("broker still running 10 s after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
}

#[tokio::test]
async fn sigint_exits_zero() {
    let mut app = spawn_app().await;
    app.broker(0).signal("INT");
    let status =
        app.broker_mut(0).wait_exit(Duration::from_secs(10)).await.expect("broker still running 10 s after SIGINT");
    assert_eq!(status.code(), Some(0), "exit status after SIGINT: {status}");
}
