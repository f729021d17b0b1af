//! Storage: the only module that knows SQL, behind one contract with two backends.
//!
//! - **PostgreSQL** (`postgres://…`): production, any number of replicas sharing one database.
//! - **SQLite** (`sqlite://PATH`, the default): one process owns the file; nothing to install.
//!
//! Everything the broker promises holds on both, because callers see operations, records and a
//! [`Lease`] — never `FOR UPDATE` or `BEGIN IMMEDIATE`. A lease is the right to refresh (or
//! change) one connection: whoever holds it is alone with the row, across every replica, until
//! it commits or releases; see `lease.rs` for what each backend does to provide it.

mod error;
mod health;
mod lease;
mod postgres;
mod snapshot;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

pub(crate) use error::OnConflict;
pub use error::StoreError;
pub use lease::Lease;
pub use snapshot::{Counts, Snapshot, StoredGrant, StoredKey, StoredRefreshAttempt};

use crate::domain::{
    AuditEvent, AuditFilter, AuditRecord, Authenticated, ConnectionRecord, GrantChange, KeyRecord, NewConnection,
    NewKey, PrincipalRecord, Role,
};
use crate::ids::{ConnectionId, GrantPattern, PrincipalId};

/// Which backend a store is, for messages and for the few choices that differ (key files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    health: Arc<health::Health>,
}

#[derive(Clone)]
enum Backend {
    Postgres(postgres::PgStore),
    Sqlite(sqlite::SqliteStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("kind", &self.kind()).finish_non_exhaustive()
    }
}

/// Calls the same operation on whichever backend this store is.
macro_rules! on_backend {
    ($self:expr, $b:ident => $body:expr) => {
        match &$self.backend {
            Backend::Postgres($b) => $body,
            Backend::Sqlite($b) => $body,
        }
    };
}

/// A change made by any process, for the in-memory hot path to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A connection row changed; `generation` is its new generation, `None` when deleted.
    Connection { id: String, generation: Option<i64> },
    /// A principal, API key or grant changed.
    Auth,
    /// The subscription was re-established: anything may have changed meanwhile.
    Resync,
}

pub struct Subscription(SubscriptionInner);

enum SubscriptionInner {
    Postgres(postgres::PgSubscription),
    /// One process owns an embedded database and makes every change itself, so there is
    /// nobody else to hear from.
    Local,
}

impl Subscription {
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        match &mut self.0 {
            SubscriptionInner::Postgres(s) => s.next().await,
            SubscriptionInner::Local => std::future::pending().await,
        }
    }
}

/// One connection's plain facts, for the per-connection gauges of `/metrics`.
#[derive(Debug, Clone)]
pub struct ConnectionGauge {
    pub id: String,
    pub provider: String,
    pub status: crate::domain::ConnectionStatus,
    /// Consecutive failed vendor calls (0 after a success or new secrets).
    pub failure_count: i32,
    /// When the stored refresh token ends, if there is one and its end is known.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

/// What a bootstrap admin key did at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrapped {
    /// The key already authenticates principal `admin`.
    Unchanged,
    /// The key was added; earlier bootstrap keys (by id) were revoked.
    Added { revoked: Vec<String> },
    /// The key was revoked through the API; it stays revoked.
    Revoked,
}

impl Store {
    /// Opens the database `url` names. PostgreSQL connects lazily, so the process starts (and
    /// `/readyz` reports) while the database is down; SQLite opens (or creates) its file now and
    /// refuses when another process has it open.
    pub async fn open(url: &SecretString, max_connections: u32) -> Result<Store, StoreError> {
        let text = url.expose_secret();
        let backend = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Backend::Postgres(postgres::PgStore::connect(text, max_connections)?)
        } else if text.starts_with("sqlite:") {
            Backend::Sqlite(sqlite::SqliteStore::open(text, max_connections).await?)
        } else {
            return Err(StoreError::Url(
                "must be postgres://USER@HOST:PORT/DB (replicas) or sqlite://PATH (one process)".into(),
            ));
        };
        Ok(Store { backend, health: Arc::default() })
    }

    pub fn kind(&self) -> Kind {
        match self.backend {
            Backend::Postgres(_) => Kind::Postgres,
            Backend::Sqlite(_) => Kind::Sqlite,
        }
    }

    /// Where the data is, without credentials: for log lines and error messages.
    pub fn location(&self) -> String {
        on_backend!(self, b => b.location())
    }

    /// The embedded database's file, if this is one.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.backend {
            Backend::Sqlite(b) => Some(b.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Checks the database can be reached, said in words that name what to fix.
    pub async fn check_connection(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.check_connection().await)
    }

    // --- health -------------------------------------------------------------------------

    pub fn note_unreachable(&self) {
        self.health.note_unreachable();
    }

    pub fn recently_unreachable(&self) -> bool {
        self.health.recently_unreachable()
    }

    pub async fn recheck<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.health.recheck(read).await
    }

    // --- schema -------------------------------------------------------------------------

    pub async fn migrate(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.migrate().await)
    }

    /// Ready: the database answers and every migration this binary knows has been applied.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        on_backend!(self, b => b.ready().await)
    }

    pub async fn subscribe(&self) -> Result<Subscription, StoreError> {
        match &self.backend {
            Backend::Postgres(b) => Ok(Subscription(SubscriptionInner::Postgres(b.subscribe().await?))),
            Backend::Sqlite(_) => Ok(Subscription(SubscriptionInner::Local)),
        }
    }

    // --- connections --------------------------------------------------------------------

    pub async fn create_connection(
        &self,
        new: NewConnection<'_>,
        event: &AuditEvent,
    ) -> Result<ConnectionRecord, StoreError> {
        on_backend!(self, b => b.create_connection(new, event).await)
    }

    pub async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        on_backend!(self, b => b.list_connections().await)
    }

    pub async fn get_connection(&self, id: &ConnectionId) -> Result<ConnectionRecord, StoreError> {
        on_backend!(self, b => b.get_connection(id).await)
    }

    pub async fn delete_connection(&self, id: &ConnectionId, event: &AuditEvent) -> Result<(), StoreError> {
        on_backend!(self, b => b.delete_connection(id, event).await)
    }

    /// Takes the connection's lease, waiting at most `hold_for` for a holder to finish; the
    /// lease itself may be held about as long.
    pub async fn lock_connection(&self, id: &ConnectionId, hold_for: Duration) -> Result<Lease, StoreError> {
        self.lease(id, hold_for, false).await?.ok_or(StoreError::NotFound("connection"))
    }

    /// Like [`Store::lock_connection`], but `None` at once when someone else holds the lease
    /// (or the row is gone): for background work that should skip rows someone is refreshing.
    pub async fn try_lock_connection(
        &self,
        id: &ConnectionId,
        hold_for: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.lease(id, hold_for, true).await
    }

    async fn lease(&self, id: &ConnectionId, hold_for: Duration, skip_held: bool) -> Result<Option<Lease>, StoreError> {
        Ok(match &self.backend {
            Backend::Postgres(b) => b.lease(id, hold_for, skip_held).await?.map(Lease::postgres),
            Backend::Sqlite(b) => b.lease(id, hold_for, skip_held).await?.map(Lease::sqlite),
        })
    }

    /// Notes which connections handed out tokens recently (batched, off the hot path).
    pub async fn touch_connections(&self, ids: &[String], at: DateTime<Utc>) -> Result<(), StoreError> {
        on_backend!(self, b => b.touch_connections(ids, at).await)
    }

    /// Active connections whose token should be refreshed ahead of time: recently used ones
    /// whose access token ends within `lead` (or half its lifetime, if shorter), and any whose
    /// refresh token ends within `rotate_lead`. Soonest first.
    pub async fn due_connections(
        &self,
        lead: Duration,
        rotate_lead: Duration,
        recently: Duration,
        limit: i64,
    ) -> Result<Vec<ConnectionId>, StoreError> {
        on_backend!(self, b => b.due_connections(lead, rotate_lead, recently, limit).await)
    }

    /// Every connection's status, failure streak and refresh-token end, sorted by id.
    pub async fn connection_gauges(&self) -> Result<Vec<ConnectionGauge>, StoreError> {
        on_backend!(self, b => b.connection_gauges().await)
    }

    // --- principals, keys, grants --------------------------------------------------------

    pub async fn authenticate(&self, key_hash: &[u8]) -> Result<Option<Authenticated>, StoreError> {
        on_backend!(self, b => b.authenticate(key_hash).await)
    }

    pub async fn create_principal(
        &self,
        id: &PrincipalId,
        role: Role,
        description: &str,
        event: &AuditEvent,
    ) -> Result<PrincipalRecord, StoreError> {
        on_backend!(self, b => b.create_principal(id, role, description, event).await)
    }

    pub async fn list_principals(&self) -> Result<Vec<PrincipalRecord>, StoreError> {
        on_backend!(self, b => b.list_principals().await)
    }

    pub async fn get_principal(&self, id: &PrincipalId) -> Result<PrincipalRecord, StoreError> {
        on_backend!(self, b => b.get_principal(id).await)
    }

    /// Deletes the principal with its keys and grants; never the last admin.
    pub async fn delete_principal(&self, id: &PrincipalId, event: &AuditEvent) -> Result<(), StoreError> {
        on_backend!(self, b => b.delete_principal(id, event).await)
    }

    pub async fn create_key(
        &self,
        principal: &PrincipalId,
        key: NewKey<'_>,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        on_backend!(self, b => b.create_key(principal, key, event).await)
    }

    pub async fn list_keys(&self, principal: &PrincipalId) -> Result<Vec<KeyRecord>, StoreError> {
        on_backend!(self, b => b.list_keys(principal).await)
    }

    /// Revokes a key (idempotent); the row stays for the audit trail.
    pub async fn revoke_key(
        &self,
        principal: &PrincipalId,
        key_id: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.revoke_key(principal, key_id, event).await)
    }

    /// Adds or removes (idempotently) a grant of an existing principal, with its audit event.
    pub async fn change_grant(
        &self,
        change: GrantChange,
        principal: &PrincipalId,
        pattern: &GrantPattern,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.change_grant(change, principal, pattern, event).await)
    }

    pub async fn list_grants(&self, principal: &PrincipalId) -> Result<Vec<GrantPattern>, StoreError> {
        on_backend!(self, b => b.list_grants(principal).await)
    }

    /// Makes `key_hash` authenticate principal `admin`, creating it (role admin) if needed.
    /// Never changes an existing principal's role, never un-revokes a key, and revokes earlier
    /// bootstrap keys when a new one is added. Safe for replicas starting together.
    pub async fn ensure_bootstrap_admin(&self, key_id: &str, key_hash: &[u8]) -> Result<Bootstrapped, StoreError> {
        on_backend!(self, b => b.ensure_bootstrap_admin(key_id, key_hash).await)
    }

    /// On a database with no principal at all, creates `admin` with the given key.
    /// Returns false (and writes nothing) when any principal exists, so only one replica wins.
    pub async fn bootstrap_if_empty(&self, key_id: &str, key_hash: &[u8]) -> Result<bool, StoreError> {
        on_backend!(self, b => b.bootstrap_if_empty(key_id, key_hash).await)
    }

    // --- audit --------------------------------------------------------------------------

    /// Records an event that goes with no other write (a forced refresh).
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.record_audit_batch(std::slice::from_ref(event)).await
    }

    /// Records several events in one transaction (aggregated token hand-outs).
    pub async fn record_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        on_backend!(self, b => b.record_audit_batch(events).await)
    }

    /// Newest first; `limit` rows at most.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        on_backend!(self, b => b.list_audit(filter).await)
    }

    // --- moving installations --------------------------------------------------------------

    /// How many rows each table holds.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        on_backend!(self, b => b.counts().await)
    }

    /// Everything, as stored: sealed values are copied as they are (their associated data
    /// names table, row and field, never the backend).
    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        on_backend!(self, b => b.export().await)
    }

    /// Writes `snapshot` into this (empty) database in one transaction.
    pub async fn import(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let counts = self.counts().await?;
        if !counts.is_empty() {
            return Err(StoreError::NotEmpty(counts.to_string()));
        }
        on_backend!(self, b => b.import(snapshot).await)
    }
}

fn bootstrap_role_conflict(role: &str) -> String {
    format!(
        "TOKENBROKER_BOOTSTRAP_ADMIN_KEY: principal \"admin\" exists with role {role}; a bootstrap key never \
         changes a principal's role (delete or rename that principal, or unset the variable)"
    )
}

fn bootstrap_key_conflict(owner: &str) -> String {
    format!("TOKENBROKER_BOOTSTRAP_ADMIN_KEY is already an API key of principal {owner:?}: choose a new key")
}
