//! The lease: the right to refresh or change one connection, held by one caller at a time
//! across every process sharing the database.
//!
//! The contract, which the token service relies on and both backends provide:
//! 1. While a lease is held, no other lease on the same connection can be had (a waiter gets
//!    it after `commit`/`release`/drop, or gives up after its wait with `LockTimeout`).
//! 2. [`Lease::mark_refresh_attempt`] is durable when it returns, whatever happens to the lease
//!    afterwards: it records that a single-use refresh token is about to be sent. It must come
//!    before any other write through the lease.
//! 3. Every other write (`save_outcome`, `apply`, `audit`) becomes visible together at
//!    [`Lease::commit`], or not at all (release, drop, crash). `save_outcome` also clears the
//!    refresh attempt, in that same commit.
//! 4. A lease whose holder dies is freed: with PostgreSQL the row lock dies with the session
//!    (and `idle_in_transaction_session_timeout` cuts a holder that stops talking); with SQLite
//!    the holder is this process.
//!
//! PostgreSQL: `SELECT … FOR UPDATE` (or `SKIP LOCKED`) in a transaction bounded by
//! `lock_timeout`; the marker is committed on a separate connection while the row is held.
//! SQLite: one process owns the file, so an in-process gate per connection is the lock; the
//! row is read under it, the marker is its own short write, and the outcome is one short
//! `BEGIN IMMEDIATE` transaction whose update is a compare-and-set on the row's generation, so
//! a write can never land on a row that changed meanwhile.

use super::StoreError;
use super::postgres::PgLease;
use super::sqlite::SqliteLease;
use crate::domain::{AuditEvent, ConnectionChange, ConnectionRecord, RecordedFailure, TokenMeta};

pub struct Lease(Inner);

enum Inner {
    Postgres(PgLease),
    Sqlite(SqliteLease),
}

macro_rules! on_lease {
    ($self:expr, $l:ident => $body:expr) => {
        match $self {
            Inner::Postgres($l) => $body,
            Inner::Sqlite($l) => $body,
        }
    };
}

impl Lease {
    pub(super) fn postgres(lease: PgLease) -> Self {
        Self(Inner::Postgres(lease))
    }

    pub(super) fn sqlite(lease: SqliteLease) -> Self {
        Self(Inner::Sqlite(lease))
    }

    /// The row as read under the lease (and as changed through it since).
    pub fn record(&self) -> &ConnectionRecord {
        on_lease!(&self.0, l => l.record())
    }

    /// The hash of a single-use refresh token whose refresh never recorded its outcome.
    pub async fn refresh_attempt(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        on_lease!(&mut self.0, l => l.refresh_attempt().await)
    }

    /// Records durably, before it is sent, that a single-use refresh token (by its hash) is
    /// about to be used. Must succeed before sending, and precede any other write.
    pub async fn mark_refresh_attempt(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        on_lease!(&mut self.0, l => l.mark_refresh_attempt(token_hash).await)
    }

    /// Writes the outcome of a vendor call: the token state (sealed; `None` clears it) and
    /// either success (clears `last_error` and the backoff) or the failure. Ends the refresh
    /// attempt, if one was recorded, in the same commit.
    pub async fn save_outcome(
        &mut self,
        sealed: Option<&[u8]>,
        meta: &TokenMeta,
        failure: Option<&RecordedFailure>,
    ) -> Result<(), StoreError> {
        on_lease!(&mut self.0, l => l.save_outcome(sealed, meta, failure).await)
    }

    /// Applies an admin change.
    pub async fn apply(&mut self, change: &ConnectionChange<'_>) -> Result<(), StoreError> {
        on_lease!(&mut self.0, l => l.apply(change).await)
    }

    pub async fn audit(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        on_lease!(&mut self.0, l => l.audit(event).await)
    }

    pub async fn commit(self) -> Result<ConnectionRecord, StoreError> {
        on_lease!(self.0, l => l.commit().await)
    }

    /// Ends the lease without writing.
    pub async fn release(self) -> Result<ConnectionRecord, StoreError> {
        on_lease!(self.0, l => l.release().await)
    }
}
