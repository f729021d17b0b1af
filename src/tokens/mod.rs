//! The token service: hands out tokens, with one vendor call per refresh however many callers
//! and replicas ask.
//!
//! 1. Read the row; a stored token that satisfies the caller is answered at once.
//! 2. Otherwise queue behind this process's other refreshers of the connection (a gate per
//!    connection), then read again: the one ahead of us has usually just refreshed.
//! 3. Otherwise take the connection's lease (shared by every replica; see `store::Lease`), read
//!    again under it, and only if the token is still not good enough call the vendor and write
//!    the result before the lease ends. A rotated refresh token is saved in the same commit
//!    that ends the use of the old one.

pub mod ahead;
mod backoff;
mod cache;
mod freshness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

use cache::Freshness;
pub use freshness::{Lifetime, UnixMs, Want, now_ms};

use crate::config::VendorLimits;
use crate::credentials::{AccessToken, CredentialsError, Owner, TokenState, Vault};
use crate::domain::{ConnectionRecord, ConnectionStatus, LastError, RecordedFailure};
use crate::gate::Gates;
use crate::ids::ConnectionId;
use crate::limits::{LimitName, Limiter, PerMinute, Refused};
use crate::providers::vendor::Step;
use crate::providers::{HeaderSource, Plan, TokenGrant, VendorClient, VendorError};
use crate::secret::SecretMap;
use crate::store::{Lease, Store, StoreError};
use crate::validation::ValidationErrors;

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("connection {0} is disabled")]
    Disabled(ConnectionId),
    #[error("connection {0} needs new secrets from an admin")]
    NeedsReauth(ConnectionId),
    #[error(transparent)]
    Vendor(#[from] VendorError),
    /// A vendor call just failed; no call is made for `retry_after`.
    #[error("{error}")]
    VendorFailed { error: VendorError, retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connection's sealed values cannot be opened, or its config cannot make a plan.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Too many refreshes of this connection, or a rejected token reported too soon.
    #[error("refresh refused by a rate limit")]
    RateLimited(Refused),
    /// The refresh task ended without an answer (it panicked or was cancelled).
    #[error("the refresh of connection {0} ended without an answer")]
    RefreshLost(ConnectionId),
    /// The vendor failed recently; no call is made before the backoff window ends. Carries
    /// the last failure's contract code and detail.
    #[error("connection {id} is backing off after a vendor failure ({code}: {detail})")]
    BackingOff { id: ConnectionId, code: String, detail: String, retry_after: Duration },
}

/// A token ready to hand out, built once per stored token: handing it out again is a reference
/// count, not a copy of its secrets.
pub type IssuedToken = Arc<TokenAnswer>;

pub struct TokenAnswer {
    pub connection_id: ConnectionId,
    pub access_token: SecretString,
    pub token_type: String,
    pub expires_at: chrono::DateTime<Utc>,
    /// `expires_at` and when it was obtained, for the hot path's arithmetic.
    pub lifetime: freshness::Lifetime,
    /// Everything a caller must send to the vendor's API, `Authorization` first.
    pub headers: Vec<(String, SecretString)>,
    pub api_base_url: Option<String>,
    /// The HTTP answer's fixed part (all but `expires_in`), made by the HTTP layer on the first
    /// hand-out: every later one copies it instead of serializing the token again. Holds the
    /// token, so it is a secret too.
    pub rendered: std::sync::OnceLock<secrecy::SecretSlice<u8>>,
}

pub struct TokenService {
    pub(crate) store: Store,
    cache: cache::TokenCache,
    vault: Arc<Vault>,
    vendor: VendorClient,
    /// This process's refreshers of a connection queue here, holding no database connection.
    flights: Gates,
    limits: VendorLimits,
    /// A refresh token ending within this is rotated by refresh-ahead, and not kept when an
    /// answer brings none (see `obtain`).
    rotate_lead: Duration,
    /// Counted on every cached answer: the handle, not a registry look-up per request.
    memory_answers: metrics::Counter,
    /// Vendor refreshes callers may cause per connection (refresh-ahead and an admin's forced
    /// refresh are not counted): however a granted service loops, a vendor's quota and a
    /// single-use chain are not burnt.
    refresh_limit: Limiter<ConnectionId>,
    /// A rejected-token report about a token younger than this does not refresh it.
    rejected_min_age: chrono::Duration,
}

/// How the token service trusts its memory and bounds what callers can make it do.
#[derive(Debug, Clone, Copy)]
pub struct TokenSettings {
    /// How long a cached row is trusted without a re-check (at most 5 s).
    pub cache_ttl: Duration,
    /// A refresh token ending within this is rotated by refresh-ahead.
    pub rotate_lead: Duration,
    pub refresh_rate: PerMinute,
    pub rejected_min_age: Duration,
}

impl TokenService {
    pub fn new(store: Store, vault: Arc<Vault>, limits: VendorLimits, settings: TokenSettings) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            vault,
            vendor: VendorClient::new(&limits)?,
            flights: Gates::default(),
            cache: cache::TokenCache::new(settings.cache_ttl),
            rotate_lead: settings.rotate_lead,
            limits,
            memory_answers: metrics::counter!("tokenbroker_token_answers_total", "source" => "memory"),
            refresh_limit: Limiter::per_minute(LimitName::ConnectionRefresh, settings.refresh_rate),
            rejected_min_age: chrono_duration(settings.rejected_min_age),
        })
    }

    pub fn rotate_lead(&self) -> Duration {
        self.rotate_lead
    }

    pub async fn token(self: &Arc<Self>, id: &ConnectionId, want: Want) -> Result<IssuedToken, TokenError> {
        if let Some(token) = self.cached_answer(id, &want) {
            self.memory_answers.increment(1);
            return Ok(token);
        }
        let entry = self.current(id, true).await?;
        if let Some(token) = answer(&entry, &want)? {
            self.memory_answers.increment(1);
            return Ok(token);
        }
        self.check_rejected_age(&entry, &want)?;
        check_backoff(&entry.record, &want)?;
        // Boxed: the hot path above should not carry (and move) the refresh's large state.
        Box::pin(self.refresh_in_turn(id, want)).await
    }

    /// Waits for this process's turn at the connection, then refreshes unless the one before
    /// already got what the caller wants.
    async fn refresh_in_turn(self: &Arc<Self>, id: &ConnectionId, want: Want) -> Result<IssuedToken, TokenError> {
        let _turn = self.flights.enter(id.as_str()).await;
        // The refresher ahead of us in this process has usually just written a new token.
        let entry = self.current(id, false).await?;
        if let Some(token) = answer(&entry, &want)? {
            metrics::counter!("tokenbroker_token_answers_total", "source" => "refreshed").increment(1);
            return Ok(token);
        }
        check_backoff(&entry.record, &want)?;
        // Counted only here, by the one caller that will refresh (waiters behind it are not).
        if !matches!(want, Want::Force) {
            self.refresh_limit.admit(id).map_err(TokenError::RateLimited)?;
        }
        // The refresh runs as its own task: if this caller goes away (client hang-up, request
        // timeout) the vendor's answer is still written before the lock is released, instead
        // of a rotated refresh token being dropped with the caller's future.
        let (this, id) = (Arc::clone(self), id.clone());
        let refresh = tokio::spawn(async move { this.refresh_under_lock(&id, &want).await });
        refresh
            .await
            .map_err(|_| TokenError::RefreshLost(entry.record.id.clone()))?
            .inspect(|_| metrics::counter!("tokenbroker_token_answers_total", "source" => "refreshed").increment(1))
    }

    /// A service that reports the current token rejected moments after it was obtained is told
    /// to wait, not given a vendor call: a vendor that really refuses new tokens is better served
    /// by the backoff of a failing refresh than by a refresh per report.
    fn check_rejected_age(&self, entry: &cache::Entry, want: &Want) -> Result<(), TokenError> {
        let (Want::ReplaceIfCurrent(_), Some((access, _))) = (want, &entry.token) else { return Ok(()) };
        let age = Utc::now() - access.obtained_at;
        if age >= self.rejected_min_age || access.expires_at <= Utc::now() {
            return Ok(());
        }
        LimitName::ConnectionRefresh.count_refusal();
        let retry_after = (self.rejected_min_age - age).to_std().unwrap_or_default();
        Err(TokenError::RateLimited(Refused { limit: LimitName::ConnectionRefresh, retry_after }))
    }

    /// The hot path: a cached answer that satisfies `want`, taken without holding the entry.
    /// Anything else (no entry, a stale one, a token to replace, an error to report) is left to
    /// the path through [`Self::current`].
    fn cached_answer(self: &Arc<Self>, id: &ConnectionId, want: &Want) -> Option<IssuedToken> {
        let (token, recheck) = self.cache.peek(id.as_str(), |entry, freshness| match freshness {
            Freshness::Stale => (None, None),
            Freshness::Fresh => (answer(entry, want).ok().flatten(), None),
            Freshness::Recheck => (answer(entry, want).ok().flatten(), Some(Arc::clone(entry))),
        })?;
        if let Some(entry) = recheck {
            self.recheck_in_background(id, &entry);
        }
        token
    }

    /// The connection as cached, or read again when the cached copy is older than the TTL (or
    /// `trust_cache` is false). While the database is unreachable the cached copy is used.
    async fn current(self: &Arc<Self>, id: &ConnectionId, trust_cache: bool) -> Result<Arc<cache::Entry>, TokenError> {
        let cached = self.cache.get(id.as_str()).map(|(entry, freshness)| {
            if trust_cache && freshness == Freshness::Recheck {
                self.recheck_in_background(id, &entry);
            }
            (entry, freshness)
        });
        if let Some((entry, Freshness::Fresh | Freshness::Recheck)) = &cached
            && trust_cache
        {
            return Ok(entry.clone());
        }
        // Boxed: only a connection read from the database carries the read's state.
        Box::pin(self.reread(id, cached.map(|(entry, _)| entry), true)).await
    }

    /// One read of the row while callers keep the answer from memory: a busy connection's
    /// re-check neither holds up a request nor runs once per caller. No caller waits for it,
    /// so it is not cut short (a query cut off mid-way costs the pool its connection).
    fn recheck_in_background(self: &Arc<Self>, id: &ConnectionId, entry: &Arc<cache::Entry>) {
        let (this, id, entry) = (Arc::clone(self), id.clone(), Arc::clone(entry));
        tokio::spawn(async move { this.reread(&id, Some(entry), false).await });
    }

    /// Reads the row, keeping `cached` if the row has not changed (or cannot be read).
    /// `waited_for`: a caller is waiting, so with a copy in hand a slow read is given up.
    async fn reread(
        &self,
        id: &ConnectionId,
        cached: Option<Arc<cache::Entry>>,
        waited_for: bool,
    ) -> Result<Arc<cache::Entry>, TokenError> {
        let started = Instant::now();
        let read = self.store.get_connection(id);
        // With a copy in hand, a database that is down or slow must not hold the caller up.
        let read = if cached.is_some() && waited_for { self.store.recheck(read).await } else { read.await };
        let took = started.elapsed();
        match read {
            Ok(record) => {
                if let Some(entry) = &cached
                    && entry.record.generation == record.generation
                {
                    self.cache.confirm(id.as_str(), took);
                    return Ok(entry.clone());
                }
                let entry = Arc::new(self.entry_for(record)?);
                self.cache.put(id.as_str(), entry.clone(), took);
                Ok(entry)
            }
            Err(StoreError::Unavailable(err)) => match cached {
                Some(entry) => Ok(entry),
                None => Err(StoreError::Unavailable(err).into()),
            },
            Err(err) => {
                self.cache.evict(id.as_str());
                Err(err.into())
            }
        }
    }

    /// Decrypts the row's token once per generation and builds its answer.
    fn entry_for(&self, record: ConnectionRecord) -> Result<cache::Entry, TokenError> {
        let live = record.token_meta.expires_at.is_some_and(|at| at > Utc::now());
        let token = match (&record.token, live && record.status == ConnectionStatus::Active) {
            (Some(_), true) => match self.vault.token(&record)?.access {
                Some(access) => {
                    let secrets = self.vault.secrets(&record)?;
                    let plan = self.vault.plan(&record, &secrets)?;
                    let issued = issue(&record, &plan, &secrets, access.clone())?;
                    Some((access, issued))
                }
                None => None,
            },
            _ => None,
        };
        Ok(cache::Entry { record, token })
    }

    /// The row changed to `generation` (`None`: deleted): from a change notification, or from an
    /// admin change made through this process (so it holds here before it is answered).
    pub fn changed(&self, id: &str, generation: Option<i64>) {
        self.cache.changed(id, generation);
    }

    /// Notifications may have been missed: re-check every cached connection before use.
    pub fn revalidate_all(&self) {
        self.cache.revalidate_all();
    }

    /// How long the lease may be held: a refresh attempt and a fallback grant, plus slack.
    fn lock_hold(&self) -> Duration {
        self.limits.total_timeout * 2 + Duration::from_secs(5)
    }

    async fn refresh_under_lock(&self, id: &ConnectionId, want: &Want) -> Result<IssuedToken, TokenError> {
        let lease = self.store.lock_connection(id, self.lock_hold()).await?;
        let record = lease.record().clone();
        check_status(&record)?;
        let state = self.vault.token(&record)?;
        // Another replica (or this one's caller ahead) may have just refreshed.
        if let Some(access) = state.access.as_ref()
            && want.satisfied_by(access, Utc::now())
        {
            let entry = Arc::new(self.entry_for(record.clone())?);
            if let Some(token) = answer(&entry, want)? {
                lease.release().await?;
                self.cache.put(id.as_str(), entry, Duration::ZERO);
                return Ok(token);
            }
        }
        // Another replica may have failed while we waited for the lease.
        check_backoff(&record, want)?;
        self.refresh_locked(lease, state).await
    }

    /// Refreshes ahead of need, from the background task: skips a connection whose lease
    /// someone else holds (they are refreshing it), and one that does not need it any more.
    /// `lead`: refresh when the access token has less than this (or half its lifetime) left.
    /// A refresh token ending within `rotate_lead` is used, so it is rotated rather than lost.
    pub async fn refresh_ahead(&self, id: &ConnectionId, lead: Duration) -> Result<bool, TokenError> {
        let Some(lease) = self.store.try_lock_connection(id, self.lock_hold()).await? else {
            return Ok(false);
        };
        let record = lease.record().clone();
        let now = Utc::now();
        let backing_off = record.retry_not_before.is_some_and(|t| t > now);
        if record.status != ConnectionStatus::Active || backing_off {
            lease.release().await?;
            return Ok(false);
        }
        let state = self.vault.token(&record)?;
        let lead = chrono_duration(lead);
        let access_due =
            state.access.as_ref().is_none_or(|a| a.expires_at - now < lead.min((a.expires_at - a.obtained_at) / 2));
        let rotation_due = state.refresh_token.is_some()
            && state.refresh_token_expires_at.is_some_and(|at| at - now < chrono_duration(self.rotate_lead));
        if !access_due && !rotation_due {
            lease.release().await?;
            return Ok(false);
        }
        self.refresh_locked(lease, state).await.map(|_| true)
    }

    /// Calls the vendor for the leased connection and records the outcome before the lease
    /// ends: the new token state on success, the failure and its backoff otherwise.
    async fn refresh_locked(&self, mut lease: Lease, mut state: TokenState) -> Result<IssuedToken, TokenError> {
        let record = lease.record().clone();
        let id = &record.id;
        let secrets = self.vault.secrets(&record)?;
        let plan = self.vault.plan(&record, &secrets)?;
        let result = self.obtain(&plan, &secrets, &mut state, &mut lease).await;
        let sealed = self.vault.seal_token(&Owner::of(&record), &state)?;
        let failure = match result {
            Ok(()) => None,
            Err(Failure::Store(e)) => return Err(e.into()),
            Err(Failure::Vendor(error)) => Some(Err(error)),
            Err(Failure::NoGrantLeft(error)) => Some(Ok(error)),
        };
        let Some(failure) = failure else {
            lease.save_outcome(sealed.as_deref(), &state.meta(), None).await?;
            let record = lease.commit().await?;
            metrics::counter!("tokenbroker_refreshes_total", "provider" => record.provider.clone(), "outcome" => "success")
                .increment(1);
            let access = state.access.ok_or_else(|| TokenError::RefreshLost(id.clone()))?;
            tracing::info!(connection = %id, expires_at = %access.expires_at, "obtained a new token from the vendor");
            let issued = issue(&record, &plan, &secrets, access.clone())?;
            self.cache.put(
                id.as_str(),
                Arc::new(cache::Entry { record, token: Some((access, issued.clone())) }),
                Duration::ZERO,
            );
            return Ok(issued);
        };
        // What changed before the failure (a spent refresh token dropped) is saved with it.
        let now = Utc::now();
        let result = match failure {
            // Nothing left to get a token with: it waits for an admin, not for a timer.
            Ok(cause) => {
                let (code, detail) = match &cause {
                    Some(error) => (error.code(), format!("{}; {NO_CREDENTIAL_LEFT}", error.detail())),
                    None => ("needs_reauth", NO_CREDENTIAL_LEFT.to_owned()),
                };
                let error = LastError { at: now, code: code.to_owned(), detail };
                tracing::warn!(connection = %id, error = %error.detail, "connection needs new secrets from an admin");
                let recorded =
                    RecordedFailure { error, status: Some(ConnectionStatus::NeedsReauth), retry_not_before: None };
                lease.save_outcome(sealed.as_deref(), &state.meta(), Some(&recorded)).await?;
                metrics::counter!("tokenbroker_refreshes_total", "provider" => record.provider.clone(), "outcome" => "needs_reauth")
                    .increment(1);
                Err(TokenError::NeedsReauth(id.clone()))
            }
            Err(error) => {
                let vendor_says = match &error {
                    VendorError::Unavailable { retry_after: Some(asked), .. } => *asked,
                    _ => Duration::ZERO,
                };
                let wait =
                    backoff::delay(record.failure_count.saturating_add(1), self.limits.backoff_max).max(vendor_says);
                let until =
                    chrono::Duration::from_std(wait).ok().and_then(|w| now.checked_add_signed(w)).unwrap_or(now);
                let recorded = RecordedFailure {
                    error: LastError { at: now, code: error.code().to_owned(), detail: error.detail() },
                    status: None,
                    retry_not_before: Some(until),
                };
                tracing::warn!(connection = %id, error = %error, retry_in_ms = wait.as_millis() as u64, "vendor token request failed");
                lease.save_outcome(sealed.as_deref(), &state.meta(), Some(&recorded)).await?;
                let (provider, code) = (record.provider.clone(), error.code());
                metrics::counter!("tokenbroker_refreshes_total", "provider" => provider.clone(), "outcome" => code)
                    .increment(1);
                metrics::counter!("tokenbroker_backoffs_total", "provider" => provider, "code" => code).increment(1);
                Err(TokenError::VendorFailed { error, retry_after: wait })
            }
        };
        lease.commit().await?;
        self.cache.evict(id.as_str());
        result
    }

    /// Gets a new access token into `state`: the refresh token first when there is one,
    /// then the primary grant. Every change to `state` (a spent refresh token dropped, a
    /// rotated one received) is kept whatever the outcome, for the caller to save.
    async fn obtain(
        &self,
        plan: &Plan,
        secrets: &SecretMap,
        state: &mut TokenState,
        lease: &mut Lease,
    ) -> Result<(), Failure> {
        let usable_refresh = plan.refresh.is_some()
            && state.refresh_token.is_some()
            && state.refresh_token_expires_at.is_none_or(|at| at > Utc::now() + REFRESH_TOKEN_MARGIN);
        if usable_refresh && let Some(refresh_token) = state.refresh_token.clone() {
            if plan.rotating_refresh_tokens && !claim_single_use(&refresh_token, lease).await? {
                tracing::warn!(
                    connection = %lease.record().id,
                    "an earlier refresh with this single-use refresh token never recorded its outcome; \
                     treating it as spent and using the primary grant"
                );
                forget_refresh_token(state);
                return self.primary(plan, secrets, state).await;
            }
            let step = Step::Refresh { token: &refresh_token, cookies: &state.cookies };
            match self.vendor.request(plan, secrets, step).await {
                Ok(grant) => {
                    // A reusable refresh token is kept when the answer brings none, unless it is
                    // near its end: then the next refresh uses the primary grant instead of
                    // finding the same old token due again and again.
                    // Without a primary grant the refresh token is all there is: always kept.
                    let near_end = state
                        .refresh_token_expires_at
                        .is_some_and(|at| at - Utc::now() < chrono_duration(self.rotate_lead));
                    let replaceable = near_end && plan.primary.is_some();
                    let kept = (!plan.rotating_refresh_tokens && !replaceable).then_some(refresh_token);
                    absorb(state, grant, kept);
                    return Ok(());
                }
                // Refused (invalid_grant, or any other 4xx): the refresh token is of no more use;
                // the primary grant may still work, under this same lock.
                Err(err @ (VendorError::InvalidGrant { .. } | VendorError::Rejected { .. })) => {
                    forget_refresh_token(state);
                    if plan.primary.is_none() {
                        return Err(Failure::NoGrantLeft(Some(err)));
                    }
                    tracing::info!(error = %err, "refresh token refused; falling back to the primary grant");
                }
                Err(err) => {
                    // A single-use token is spent once the vendor may have seen it: after any
                    // answer, a timeout or a reset. Only a request that never left keeps it.
                    let never_sent = matches!(err, VendorError::Unavailable { maybe_received: false, .. })
                        || matches!(err, VendorError::Config(_));
                    if plan.rotating_refresh_tokens && !never_sent {
                        forget_refresh_token(state);
                        if plan.primary.is_none() {
                            return Err(Failure::NoGrantLeft(Some(err)));
                        }
                    }
                    return Err(Failure::Vendor(err));
                }
            }
        }
        self.primary(plan, secrets, state).await
    }

    async fn primary(&self, plan: &Plan, secrets: &SecretMap, state: &mut TokenState) -> Result<(), Failure> {
        let Some(grant) = &plan.primary else {
            return Err(Failure::NoGrantLeft(None));
        };
        match self.vendor.request(plan, secrets, Step::Primary(grant)).await {
            Ok(grant) => {
                absorb(state, grant, None);
                Ok(())
            }
            Err(VendorError::InvalidGrant { endpoint, status }) => {
                Err(Failure::Vendor(VendorError::Rejected { endpoint, status, code: "invalid_grant".into() }))
            }
            Err(err) => Err(Failure::Vendor(err)),
        }
    }
}

/// Before a single-use refresh token is sent, records durably that it is about to be (see the
/// lease contract). False when an earlier attempt with this very token left its record behind:
/// that token may have reached the vendor and must not be sent again.
async fn claim_single_use(token: &SecretString, lease: &mut Lease) -> Result<bool, Failure> {
    let hash = crate::auth::hash_key(token.expose_secret());
    if lease.refresh_attempt().await.map_err(Failure::Store)?.as_deref() == Some(hash.as_slice()) {
        return Ok(false);
    }
    lease.mark_refresh_attempt(&hash).await.map_err(Failure::Store)?;
    Ok(true)
}

/// The answer for `access`: `Authorization` plus the plan's handed-out headers.
fn issue(
    record: &ConnectionRecord,
    plan: &Plan,
    secrets: &SecretMap,
    access: AccessToken,
) -> Result<IssuedToken, TokenError> {
    let authorization = SecretString::from(format!("{} {}", access.token_type, access.token.expose_secret()));
    let mut headers = vec![("Authorization".to_owned(), authorization)];
    for (name, source) in &plan.headers {
        let value = match source {
            HeaderSource::Static(v) => SecretString::from(v.as_str()),
            HeaderSource::Secret(secret) => {
                let misconfigured = |message: &str| {
                    TokenError::Credentials(CredentialsError::Misconfigured {
                        id: record.id.clone(),
                        errors: ValidationErrors::single(format!("secrets.{secret}"), message),
                    })
                };
                let value = secrets.get(secret).ok_or_else(|| misconfigured("required by a handed-out header"))?;
                // Stored before values were checked on write: never hand out a header that breaks lines.
                if !crate::providers::plan::is_header_value(value.expose_secret()) {
                    return Err(misconfigured("is not a valid header value"));
                }
                value.clone()
            }
        };
        headers.push((name.clone(), value));
    }
    let lifetime = freshness::Lifetime::of(&access);
    Ok(Arc::new(TokenAnswer {
        lifetime,
        connection_id: record.id.clone(),
        access_token: access.token,
        token_type: access.token_type,
        expires_at: access.expires_at,
        headers,
        api_base_url: plan.api_base_url.clone(),
        rendered: std::sync::OnceLock::new(),
    }))
}

/// A refresh token this close to its end is not sent: it could expire on the way.
const REFRESH_TOKEN_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

const NO_CREDENTIAL_LEFT: &str =
    "no credential is left to get a token with: an admin must replace the connection's secrets";

/// Settings are std durations; token arithmetic is chrono's. Anything too large is "forever".
fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

enum Failure {
    Vendor(VendorError),
    /// Nothing left to get a token with: the connection needs new secrets. Carries the vendor
    /// failure that used up the last credential, if one did.
    NoGrantLeft(Option<VendorError>),
    /// The database failed before the vendor was called.
    Store(StoreError),
}

/// During a backoff window callers get the last failure at once, without a vendor call.
/// An admin's forced refresh is the exception: it is how an operator retries by hand.
fn check_backoff(record: &ConnectionRecord, want: &Want) -> Result<(), TokenError> {
    let Some(until) = record.retry_not_before else { return Ok(()) };
    let left = (until - Utc::now()).to_std().unwrap_or_default();
    if left.is_zero() || matches!(want, Want::Force) {
        return Ok(());
    }
    let (code, detail) = match &record.last_error {
        Some(e) => (e.code.clone(), e.detail.clone()),
        None => ("vendor_unavailable".to_owned(), "backing off after a vendor failure".to_owned()),
    };
    Err(TokenError::BackingOff { id: record.id.clone(), code, detail, retry_after: left })
}

/// The cached answer, if the connection may hand out tokens and its token satisfies `want`.
fn answer(entry: &cache::Entry, want: &Want) -> Result<Option<IssuedToken>, TokenError> {
    check_status(&entry.record)?;
    Ok(entry
        .token
        .as_ref()
        .filter(|(access, issued)| want.satisfied(access, issued.lifetime, freshness::now_ms()))
        .map(|(_, issued)| issued.clone()))
}

fn check_status(record: &ConnectionRecord) -> Result<(), TokenError> {
    match record.status {
        ConnectionStatus::Active => Ok(()),
        ConnectionStatus::Disabled => Err(TokenError::Disabled(record.id.clone())),
        ConnectionStatus::NeedsReauth => Err(TokenError::NeedsReauth(record.id.clone())),
    }
}

fn forget_refresh_token(state: &mut TokenState) {
    state.refresh_token = None;
    state.refresh_token_expires_at = None;
    state.cookies.clear();
}

/// Takes a vendor's answer into the state. `kept` is the refresh token to keep when the
/// answer carries none (only for vendors whose refresh tokens are reusable).
fn absorb(state: &mut TokenState, grant: TokenGrant, kept: Option<SecretString>) {
    state.access = Some(AccessToken {
        token: grant.access_token,
        token_type: grant.token_type,
        obtained_at: grant.obtained_at,
        expires_at: grant.expires_at,
    });
    match grant.refresh_token {
        Some(new) => {
            state.refresh_token = Some(new);
            state.refresh_token_expires_at = grant.refresh_token_expires_at;
        }
        None if kept.is_some() => state.refresh_token = kept,
        None => forget_refresh_token(state),
    }
    for (name, value) in grant.cookies {
        state.cookies.retain(|(n, _)| *n != name);
        state.cookies.push((name, value));
    }
}
