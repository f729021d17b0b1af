//! Starting the broker: settings checked once, the database reached and migrated, the master
//! keys loaded and checked against what is stored, the admin bootstrapped, then HTTP until
//! SIGTERM/SIGINT.

mod bootstrap;
mod commands;
pub mod keys;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use commands::{copy, keys_status, migrate, rekey};

use crate::admin::Admin;
use crate::auth::{AuthCache, AuthSettings, Rate};
use crate::config::{DatabaseArgs, ServeArgs};
use crate::credentials::Vault;
use crate::http::{AppState, HttpLimits, Services};
use crate::limits::PerMinute;
use crate::store::Store;
use crate::tokens::ahead::AheadSettings;
use crate::tokens::{TokenService, TokenSettings};

/// Opens the database and makes sure it answers, with a message that names what to fix.
async fn open_store(db: &DatabaseArgs) -> anyhow::Result<Store> {
    let store = Store::open(&db.database_url, db.db_max_connections).await?;
    store.check_connection().await?;
    Ok(store)
}

fn per_minute(per_minute: u32, burst: u32) -> anyhow::Result<PerMinute> {
    if per_minute > 0 && burst == 0 {
        anyhow::bail!(
            "TOKENBROKER_REFRESH_RATE_LIMIT_BURST must be at least 1 (or set TOKENBROKER_REFRESH_RATE_LIMIT_PER_MINUTE to 0 to turn the limit off)"
        );
    }
    Ok(PerMinute { per_minute, burst })
}

/// How keys are trusted from memory, and the rate limits on callers.
fn auth_settings(args: &ServeArgs) -> anyhow::Result<AuthSettings> {
    let rate = |per_second: u32, burst: u32, name: &str| {
        if per_second > 0 && burst == 0 {
            anyhow::bail!("{name}_BURST must be at least 1 (or set {name}_PER_SECOND to 0 to turn the limit off)");
        }
        Ok(Rate { per_second, burst })
    };
    Ok(AuthSettings {
        ttl: args.cache_ttl(),
        principals: rate(args.rate_limit_per_second, args.rate_limit_burst, "TOKENBROKER_RATE_LIMIT")?,
        failures: rate(
            args.rate_limit_auth_failures_per_second,
            args.rate_limit_auth_failures_burst,
            "TOKENBROKER_RATE_LIMIT_AUTH_FAILURES",
        )?,
    })
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let limits = args.vendor_limits()?;
    let auth_settings = auth_settings(&args)?;
    let store = open_store(&args.db).await?;
    store.migrate().await.context("applying migrations")?;
    let keys = keys::load(&args.keys, &store).await?;
    keys::check_ring(&keys, &store).await?;
    bootstrap::admin(&store, args.bootstrap_admin_key.as_ref()).await?;
    tracing::info!(
        database = %store.location(),
        active_key = keys.active_key_id(),
        keys = keys.key_ids().len(),
        "database ready, master keys loaded"
    );

    // Before the services, which keep handles to their metrics.
    let ops = crate::http::Operations { metrics: crate::http::metrics::install() };
    let vault = Arc::new(Vault::new(Arc::new(keys), limits.allow_insecure_urls));
    let rotate_lead = Duration::from_secs(args.rotate_refresh_tokens_before_secs);
    let token_settings = TokenSettings {
        cache_ttl: args.cache_ttl(),
        rotate_lead,
        refresh_rate: per_minute(args.refresh_rate_limit_per_minute, args.refresh_rate_limit_burst)?,
        rejected_min_age: Duration::from_secs(args.rejected_token_min_age_secs),
    };
    let tokens = Arc::new(TokenService::new(store.clone(), vault.clone(), limits, token_settings)?);
    let auth = Arc::new(AuthCache::new(auth_settings));
    let admin = Admin::new(store.clone(), vault, tokens.clone(), auth.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let invalidation =
        tokio::spawn(crate::invalidation::run(store.clone(), tokens.clone(), auth.clone(), stopped.clone()));
    let usage = Arc::new(crate::usage::Usage::default());
    let usage_audit = tokio::spawn(crate::usage::run(usage.clone(), store.clone(), stopped.clone()));
    // 0 turns refresh-ahead off.
    let ahead = (args.refresh_ahead_secs > 0).then(|| {
        let settings = AheadSettings {
            lead: Duration::from_secs(args.refresh_ahead_secs),
            interval: Duration::from_millis(args.refresh_ahead_interval_ms.max(100)),
            concurrency: 4,
        };
        tokio::spawn(crate::tokens::ahead::run(tokens.clone(), usage.clone(), settings, stopped))
    });
    let http_limits = HttpLimits {
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        max_body_bytes: args.max_body_bytes,
    };
    let app = crate::http::router(AppState::new(Services { store, tokens, admin, auth, usage }), &http_limits, ops);
    let listener = crate::http::listener::Listener::bind(args.listen, &args.listener).await?;
    listener.serve(app, shutdown_signal()).await;
    // Requests in flight have finished (their refreshes committed); let background
    // refreshes that already started commit too, then exit.
    let _ = stop.send(true);
    if let Some(ahead) = ahead {
        let _ = ahead.await;
    }
    let _ = invalidation.await;
    let _ = usage_audit.await;
    tracing::info!("stopped");
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
