//! HTTPS: a real TLS client, certificates made in the test, a certificate replaced on disk
//! and served without a restart, a bad replacement refused, and client certificates required
//! when a CA is configured.

use std::time::{Duration, Instant};

use reqwest::tls::TlsInfo;

use super::pki::{Ca, Leaf, PemDir, env_path};
use crate::harness::TestApp;
use crate::harness::broker::BrokerEnv;
use crate::harness::spawn_app_with;

fn https_client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .tls_info(true)
        // A new connection (and handshake) for every request, to see the certificate in use now.
        .pool_max_idle_per_host(0);
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn https_url(app: &TestApp, path: &str) -> String {
    let port = app.broker(0).addr.rsplit(':').next().unwrap().to_owned();
    format!("https://127.0.0.1:{port}{path}")
}

/// The server certificate the broker presented for one `GET /healthz`.
async fn served_certificate(client: &reqwest::Client, app: &TestApp) -> Result<Vec<u8>, String> {
    let resp = client.get(https_url(app, "/healthz")).send().await.map_err(|e| format!("{e:?}"))?;
    assert_eq!(resp.status(), 200);
    let info = resp.extensions().get::<TlsInfo>().expect("TLS info on an https answer").clone();
    Ok(info.peer_certificate().expect("a server certificate").to_vec())
}

fn tls_env(dir: &PemDir, leaf: &Leaf, client_ca: Option<&Ca>) -> impl FnOnce(&mut BrokerEnv) {
    let (cert, key) = dir.write_pair(leaf);
    let ca = client_ca.map(|ca| dir.write("client-ca.pem", &ca.pem()));
    move |env: &mut BrokerEnv| {
        env.extra.push(("TOKENBROKER_TLS_CERT_FILE".into(), env_path(&cert)));
        env.extra.push(("TOKENBROKER_TLS_KEY_FILE".into(), env_path(&key)));
        if let Some(ca) = ca {
            env.extra.push(("TOKENBROKER_TLS_CLIENT_CA_FILE".into(), env_path(&ca)));
        }
    }
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let ca = Ca::new("test server CA");
    let leaf = ca.server("broker one");
    let dir = PemDir::new();
    let app = spawn_app_with(tls_env(&dir, &leaf, None)).await;
    let client = https_client(&ca, None);
    assert_eq!(served_certificate(&client, &app).await.unwrap(), leaf.der);

    // An authenticated API call over TLS, and plain HTTP on the same port is not served.
    let resp = client.get(https_url(&app, "/v1/principals")).bearer_auth(app.env.admin_key()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let plain = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
    let http = plain.get(format!("http://{}/healthz", app.broker(0).addr)).send().await;
    assert!(http.is_err() || http.is_ok_and(|r| r.status() != 200), "plain HTTP was answered on the TLS port");
}

#[tokio::test]
async fn a_replaced_certificate_is_served_without_a_restart_and_a_bad_one_is_refused() {
    let ca = Ca::new("test server CA");
    let first = ca.server("before rotation");
    let dir = PemDir::new();
    let app = spawn_app_with(tls_env(&dir, &first, None)).await;
    let client = https_client(&ca, None);
    assert_eq!(served_certificate(&client, &app).await.unwrap(), first.der);

    let second = ca.server("after rotation");
    dir.write_pair(&second);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if served_certificate(&client, &app).await.unwrap() == second.der {
            break;
        }
        assert!(Instant::now() < deadline, "the old certificate was still served 15 s after the files changed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        app.log_lines().iter().any(|l| l.text.contains("TLS certificate reloaded")),
        "no log line saying the certificate was reloaded"
    );

    // A broken certificate file: logged, and the certificate in use is kept.
    dir.write("cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !app.log_lines().iter().any(|l| l.text.contains("cannot be used")) {
        assert!(Instant::now() < deadline, "a broken certificate file was not reported within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_certificate(&client, &app).await.unwrap(), second.der);
    // A certificate that does not match the key: also refused.
    dir.write("cert.pem", &ca.server("wrong key").cert_pem);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(served_certificate(&client, &app).await.unwrap(), second.der);
    let refusals = app.log_lines().iter().filter(|l| l.text.contains("cannot be used")).count();
    assert!(refusals >= 2, "the mismatched key was not reported: {refusals} refusal(s) logged");
    for line in app.log_lines() {
        assert!(!line.text.contains("PRIVATE KEY"), "a log line shows key material: {}", line.text);
    }
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_its_certificates_are_served() {
    let server_ca = Ca::new("test server CA");
    let client_ca = Ca::new("test client CA");
    let dir = PemDir::new();
    let app = spawn_app_with(tls_env(&dir, &server_ca.server("broker"), Some(&client_ca))).await;

    let anonymous = https_client(&server_ca, None);
    let refused = anonymous.get(https_url(&app, "/healthz")).send().await;
    assert!(refused.is_err(), "a client without a certificate was served: {refused:?}");

    let stranger = Ca::new("someone else's CA").client("stranger");
    let refused = https_client(&server_ca, Some(&stranger)).get(https_url(&app, "/healthz")).send().await;
    assert!(refused.is_err(), "a client certificate from another CA was accepted: {refused:?}");

    let known = client_ca.client("billing-svc");
    let resp = https_client(&server_ca, Some(&known)).get(https_url(&app, "/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn plain_http_on_a_non_loopback_address_is_warned_about() {
    let app = spawn_app_with(|env| env.extra.push(("TOKENBROKER_LISTEN".into(), "0.0.0.0:0".into()))).await;
    let warned = app.log_lines().iter().filter_map(|l| l.json()).any(|j| {
        j["level"] == "WARN"
            && j["fields"]["message"].as_str().is_some_and(|m| m.contains("plain HTTP on a non-loopback"))
    });
    assert!(warned, "no warning about plain HTTP on 0.0.0.0:\n{:?}", app.log_lines());

    let loopback = crate::harness::spawn_app().await;
    assert!(
        !loopback.log_lines().iter().any(|l| l.text.contains("non-loopback")),
        "warned about plain HTTP on loopback"
    );
}

#[tokio::test]
async fn unusable_tls_files_stop_the_broker_at_start() {
    let ca = Ca::new("test server CA");
    let dir = PemDir::new();
    let leaf = ca.server("broker");
    let other = ca.server("other");
    dir.write_pair(&leaf);
    // The key of another certificate.
    dir.write("key.pem", &other.key_pem);
    let db = crate::harness::db::TestDb::create().await;
    let mut env = BrokerEnv::new(&db.url);
    tls_env_paths(&mut env, &dir);
    let out = crate::harness::cli::run(env.command(&["serve"]), Duration::from_secs(15)).await;
    assert!(!out.status.success(), "started with a key that does not match:\n{}", out.describe());
    assert!(out.combined().contains("TOKENBROKER_TLS_KEY_FILE"), "{}", out.describe());
    assert!(!out.combined().contains("PRIVATE KEY"), "{}", out.describe());
}

fn tls_env_paths(env: &mut BrokerEnv, dir: &PemDir) {
    env.extra.push(("TOKENBROKER_TLS_CERT_FILE".into(), env_path(&dir.path("cert.pem"))));
    env.extra.push(("TOKENBROKER_TLS_KEY_FILE".into(), env_path(&dir.path("key.pem"))));
}
