//! "Revoking a key takes effect … within 5 seconds on every other [replica]" — also when that
//! replica's database link is slow or gone. Replica B reaches Postgres through a `DbProxy`;
//! the key is revoked on replica A. A slow link must not let B keep accepting the key on
//! stale knowledge (a re-check that takes 1.5 s is waited for, not given up on), and a cut
//! link must make B refuse it (503 `unavailable`: B cannot tell, the key may be fine) once its
//! last successful check is older than the bound.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::client::TestClient;
use crate::harness::db_proxy::DbProxy;
use crate::harness::{TestApp, assert_problem, replicated_app_with_qubs};

const BOUND: Duration = Duration::from_secs(5);
const PATH: &str = "/v1/connections/qubs-main/token";

struct Rig {
    app: TestApp,
    proxy: DbProxy,
    /// The service, on replica A (direct) and B (through the proxy).
    here: TestClient,
    there: TestClient,
    key_id: String,
    _qubs: crate::fakes::FakeQubs,
}

async fn rig() -> Rig {
    let (mut app, qubs) = replicated_app_with_qubs("qubs-main").await;
    let proxy = DbProxy::start(&app.db.url).await;
    let mut env = app.env.clone();
    env.database_url = Some(proxy.url.clone());
    let other = app.add_replica_with(&env).await;
    app.admin.create_principal("billing", "service").await;
    app.admin.put_grant("billing", "qubs-main").await;
    let view = app.admin.create_key_view("billing", None).await;
    let key = view["api_key"].as_str().expect("api_key");
    let (here, there) = (app.client_on(0, Some(key)), app.client_on(other, Some(key)));
    here.get(PATH, 200).await;
    there.get(PATH, 200).await;
    let key_id = view["key_id"].as_str().expect("key_id").to_owned();
    Rig { app, proxy, here, there, key_id, _qubs: qubs }
}

struct Answer {
    asked: Instant,
    answered: Instant,
    status: u16,
    resp: crate::harness::client::Resp,
}

async fn ask(client: &TestClient) -> Answer {
    let asked = Instant::now();
    let resp = client.raw(Method::GET, PATH).send().await;
    Answer { asked, answered: Instant::now(), status: resp.status, resp }
}

/// No answer asked `BOUND` or more after the revocation may accept the key.
fn assert_none_accepted_after_the_bound(answers: &[Answer], revoked_at: Instant) {
    for a in answers.iter().filter(|a| a.asked >= revoked_at + BOUND) {
        assert_ne!(
            a.status,
            200,
            "replica B accepted a key revoked {:?} before the request was asked",
            a.asked - revoked_at
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_slow_database_refuses_a_revoked_key_within_5_seconds() {
    let rig = rig().await;
    // 750 ms each way: every query from B takes 1.5 s or more, longer than the 1 s a re-check
    // used to be given before the stale entry was accepted regardless.
    rig.proxy.set_latency(Duration::from_millis(750));
    // Slow is not down: a key in use is re-checked in the background and keeps being served
    // for longer than the bound.
    let warm_until = Instant::now() + BOUND + Duration::from_secs(1);
    while Instant::now() < warm_until {
        let a = ask(&rig.there).await;
        assert_eq!(a.status, 200, "a valid key was refused by the replica with a slow database: {}", a.resp.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    rig.app.admin.revoke_key("billing", &rig.key_id).await;
    let revoked_at = Instant::now();
    rig.here.raw(Method::GET, PATH).send().await.expect(401);
    let mut answers = Vec::new();
    loop {
        let a = ask(&rig.there).await;
        let status = a.status;
        answers.push(a);
        if status == 401 {
            break;
        }
        // A check that needs a new pooled connection pays a TLS handshake over the slow link
        // too, and may run past its deadline: 503 then (B could not tell), never a 200 late.
        assert!(status == 200 || status == 503, "replica B answered {status} to a revoked key");
        assert!(
            revoked_at.elapsed() < BOUND * 3,
            "replica B has not said the key is revoked {:?} after its revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_none_accepted_after_the_bound(&answers, revoked_at);
    for a in answers.iter().filter(|a| a.status == 503) {
        assert_problem(&a.resp, 503, "unavailable");
    }
    let first_refusal = answers.iter().find(|a| a.status != 200).expect("a refusal");
    // One check through the slow link (a few round trips at most) past the bound.
    let allowed = BOUND + Duration::from_secs(3);
    assert!(
        first_refusal.answered - revoked_at <= allowed,
        "replica B refused the revoked key {:?} after the revocation (allowed {allowed:?})",
        first_refusal.answered - revoked_at
    );
    // The database is slow, not gone: B finds out, and says what the key is.
    let last = answers.last().expect("an answer");
    crate::auth::assert_unauthenticated(&last.resp);
    eprintln!(
        "slow database: refused {:?} and said unauthenticated {:?} after the revocation ({} answers)",
        first_refusal.answered - revoked_at,
        last.answered - revoked_at,
        answers.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_its_database_stops_accepting_keys_after_the_bound() {
    let rig = rig().await;
    rig.proxy.cut();
    rig.app.admin.revoke_key("billing", &rig.key_id).await;
    let revoked_at = Instant::now();
    rig.here.raw(Method::GET, PATH).send().await.expect(401);

    let mut answers = Vec::new();
    while revoked_at.elapsed() < BOUND + Duration::from_secs(2) {
        answers.push(ask(&rig.there).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_none_accepted_after_the_bound(&answers, revoked_at);
    let late: Vec<&Answer> = answers.iter().filter(|a| a.asked >= revoked_at + BOUND).collect();
    assert!(!late.is_empty(), "no answer asked after the bound");
    for a in late {
        // B cannot know whether the key is still good: unavailable, not unauthenticated.
        assert_problem(&a.resp, 503, "unavailable");
        assert!(a.resp.header("retry-after").is_some(), "503 unavailable without Retry-After");
    }
    for a in &answers {
        assert!(a.status == 200 || a.status == 503, "B answered {} while cut off: {}", a.status, a.resp.body);
    }

    // Back in touch, B learns the revocation by itself.
    rig.proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = ask(&rig.there).await;
        if a.status == 401 {
            break;
        }
        assert_ne!(a.status, 200, "B accepted a revoked key after its database came back");
        assert!(Instant::now() < deadline, "B still answers {} 15 s after its database came back", a.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
