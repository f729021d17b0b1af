//! Starting the broker: settings checked once, the database migrated, the admin bootstrapped,
//! then HTTP until SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::auth::{ApiKey, AuthCache, hash_key};
use crate::config::{DatabaseArgs, KeyArgs, ServeArgs};
use crate::crypto::KeyRing;
use crate::http::{AppState, HttpLimits};
use crate::refresh::TokenService;
use crate::refresh::state::{Owner, TokenState};
use crate::store::{AuditEvent, ConnectionChange, Store};

/// Postgres is the only backend today; the embedded SQLite default is planned.
fn open_store(db: &DatabaseArgs) -> anyhow::Result<Store> {
    let url = db.database_url.expose_secret();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!(
            "DATABASE_URL must be a postgres:// URL (e.g. postgres://postgres@127.0.0.1:5432/postgres); \
             the embedded sqlite:// backend is not available yet"
        );
    }
    Store::connect(&db.database_url, db.db_max_connections).context("opening the database")
}

fn load_keys(keys: &KeyArgs) -> anyhow::Result<KeyRing> {
    let source = if keys.master_key_file.is_some() { "TOKENBROKER_MASTER_KEY_FILE" } else { "TOKENBROKER_MASTER_KEYS" };
    KeyRing::parse(&keys.load()?).with_context(|| format!("{source} is not a valid master key list"))
}

pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    store.migrate().await.context("applying migrations")?;
    tracing::info!("migrations applied");
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    let keys = Arc::new(load_keys(&args.keys)?);
    let limits = args.vendor_limits()?;
    let auth_settings = args.auth_settings()?;
    if let Some(key) = &args.bootstrap_admin_key
        && key.expose_secret().chars().count() < 32
    {
        bail!("TOKENBROKER_BOOTSTRAP_ADMIN_KEY must be at least 32 characters");
    }
    store.migrate().await.context("applying migrations")?;
    bootstrap_admin(&store, args.bootstrap_admin_key.as_ref()).await?;
    tracing::info!(active_key = keys.active_key_id(), keys = keys.key_ids().len(), "master keys loaded");

    let rotate_lead = Duration::from_secs(args.rotate_refresh_tokens_before_secs);
    let tokens = Arc::new(TokenService::new(store.clone(), keys, limits, args.cache_ttl(), rotate_lead)?);
    let auth = Arc::new(AuthCache::new(auth_settings));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let coherence = tokio::spawn(crate::coherence::run(store.clone(), tokens.clone(), auth.clone(), stopped.clone()));
    let usage = Arc::new(crate::usage::Usage::default());
    let usage_audit = tokio::spawn(crate::usage::run(usage.clone(), store.clone(), stopped.clone()));
    let ahead = args
        .ahead_settings()
        .map(|settings| tokio::spawn(crate::refresh::ahead::run(tokens.clone(), usage.clone(), settings, stopped)));
    let http_limits = HttpLimits {
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        max_body_bytes: args.max_body_bytes,
    };
    let ops = crate::http::Operations { metrics: crate::http::metrics::install() };
    let app = crate::http::router(AppState { store, tokens, auth, usage }, &http_limits, ops);
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, "listening");
    // The peer address is what the limit on failed authentications counts by.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // Requests in flight have finished (their refreshes committed); let background
    // refreshes that already started commit too, then exit.
    let _ = stop.send(true);
    if let Some(ahead) = ahead {
        let _ = ahead.await;
    }
    let _ = coherence.await;
    let _ = usage_audit.await;
    tracing::info!("stopped");
    Ok(())
}

async fn bootstrap_admin(store: &Store, key: Option<&SecretString>) -> anyhow::Result<()> {
    match key {
        Some(key) => {
            let hash = hash_key(key.expose_secret());
            // The id is derived from the hash, so every replica and restart agrees on it.
            let key_id = format!("bootstrap_{}", hash.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>());
            store.ensure_bootstrap_admin(&key_id, &hash).await?;
        }
        None => {
            let key = ApiKey::generate()?;
            if store.bootstrap_if_empty(&key.key_id, &key.hash()).await? {
                // Shown once, on stderr, outside the log stream; never stored in plaintext.
                eprintln!("tokenbroker: bootstrap admin API key (shown once): {}", key.secret.expose_secret());
                tracing::warn!(principal = "admin", key_id = %key.key_id, "created the first admin; its key was printed once on stderr");
            }
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing requests in flight");
}

/// Re-seals every connection's secrets and token under the active key, one row lock at a
/// time, so it is safe while brokers are serving.
pub async fn rekey(db: &DatabaseArgs, keys: &KeyArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let keys = load_keys(keys)?;
    store.migrate().await?;
    let mut count = 0;
    for record in store.list_connections().await? {
        let mut locked = store.lock_connection(&record.id, Duration::from_secs(60)).await?;
        let record = locked.record().clone();
        let owner = Owner::of(&record);
        let secrets = keys.open(owner.binding("secrets"), &record.secrets)?;
        let sealed_secrets = keys.seal(owner.binding("secrets"), &secrets)?;
        let token = match &record.token {
            Some(sealed) => {
                let state = TokenState::open(&keys, &owner, sealed)?;
                Some((Some(state.seal(&keys, &owner)?), state.meta()))
            }
            None => None,
        };
        let change = ConnectionChange { secrets: Some((&record.secret_names, &sealed_secrets)), ..Default::default() };
        locked.apply(&change, token.as_ref().map(|(s, m)| (s.as_deref(), m.clone()))).await?;
        let event = AuditEvent::success(None, "connection.rekey", serde_json::json!({"key_id": keys.active_key_id()}))
            .on_connection(record.id.as_str());
        locked.audit(&event).await?;
        locked.commit().await?;
        count += 1;
    }
    tracing::info!(connections = count, active_key = keys.active_key_id(), "re-encrypted under the active key");
    println!("re-encrypted {count} connection(s) under key {}", keys.active_key_id());
    Ok(())
}
