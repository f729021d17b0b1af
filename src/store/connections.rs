//! Connections: config in plain columns, secrets and tokens sealed, and the row lock that
//! serializes refreshes across every replica.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{FromRow, Postgres, Transaction};
use utoipa::ToSchema;

use super::audit::{self, AuditEvent};
use super::{OnConflict, Store, StoreError};
use crate::ids::ConnectionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Disabled,
    /// The connection cannot get tokens until an admin replaces its secrets.
    NeedsReauth,
}

impl ConnectionStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::NeedsReauth => "needs_reauth",
        }
    }

    pub(crate) fn from_db(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            "needs_reauth" => Ok(Self::NeedsReauth),
            other => Err(StoreError::Corrupt(format!("unknown connection status {other:?}"))),
        }
    }
}

/// The last failed vendor call, as shown on the connection view. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    pub at: DateTime<Utc>,
    pub code: String,
    pub detail: String,
}

/// A failed vendor call, as recorded on the connection.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error: LastError,
    /// `needs_reauth` when nothing is left to get a token with.
    pub status: Option<ConnectionStatus>,
    /// No vendor call before this time.
    pub retry_not_before: Option<DateTime<Utc>>,
}

/// Plain facts about the sealed token, readable without the master key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenMeta {
    pub obtained_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub provider: String,
    pub description: String,
    pub config: Value,
    pub secret_names: Vec<String>,
    /// Sealed [`crate::secret::SecretMap`].
    pub secrets: Vec<u8>,
    pub status: ConnectionStatus,
    /// Sealed token state, if any.
    pub token: Option<Vec<u8>>,
    pub token_meta: TokenMeta,
    pub last_error: Option<LastError>,
    /// Consecutive failed vendor calls.
    pub failure_count: i32,
    /// No vendor call before this time.
    pub retry_not_before: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ConnectionRow {
    id: String,
    provider: String,
    description: String,
    config: Value,
    secret_names: Vec<String>,
    secrets: Vec<u8>,
    status: String,
    token: Option<Vec<u8>>,
    token_obtained_at: Option<DateTime<Utc>>,
    token_expires_at: Option<DateTime<Utc>>,
    has_refresh_token: bool,
    refresh_token_expires_at: Option<DateTime<Utc>>,
    last_error: Option<Value>,
    failure_count: i32,
    retry_not_before: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    generation: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ConnectionRow> for ConnectionRecord {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ConnectionId::from_trusted(r.id),
            provider: r.provider,
            description: r.description,
            config: r.config,
            secret_names: r.secret_names,
            secrets: r.secrets,
            status: ConnectionStatus::from_db(&r.status)?,
            token: r.token,
            token_meta: TokenMeta {
                obtained_at: r.token_obtained_at,
                expires_at: r.token_expires_at,
                has_refresh_token: r.has_refresh_token,
                refresh_token_expires_at: r.refresh_token_expires_at,
            },
            // A last_error we cannot read is shown as none rather than failing the whole view.
            last_error: r.last_error.and_then(|v| serde_json::from_value(v).ok()),
            failure_count: r.failure_count,
            retry_not_before: r.retry_not_before,
            last_used_at: r.last_used_at,
            generation: r.generation,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The columns every query returns, as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, provider, description, config, secret_names, secrets, status, token, token_obtained_at,
         token_expires_at, has_refresh_token, refresh_token_expires_at, last_error, failure_count,
         retry_not_before, last_used_at, generation, created_at, updated_at"
    };
}

/// The secret that is token state rather than a credential: a refresh token given by an admin
/// becomes the connection's current refresh token (sealed in `token`), so it is used once and
/// then rotated, never kept as a reusable secret.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// A connection about to be inserted. Its secrets are sealed already (bound to its id).
pub struct NewConnection<'a> {
    pub id: &'a ConnectionId,
    pub provider: &'a str,
    pub description: &'a str,
    pub config: &'a Value,
    pub secret_names: &'a [String],
    pub secrets: &'a [u8],
    /// Initial token state (a refresh token given by the admin), sealed, with its facts.
    pub token: Option<(&'a [u8], TokenMeta)>,
}

impl Store {
    pub async fn create_connection(
        &self,
        new: NewConnection<'_>,
        audit_event: &AuditEvent,
    ) -> Result<ConnectionRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row: ConnectionRow = sqlx::query_as(concat!(
            "insert into connections (id, provider, description, config, secret_names, secrets, token,
                 has_refresh_token, refresh_token_expires_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning ",
            columns!()
        ))
        .bind(new.id.as_str())
        .bind(new.provider)
        .bind(new.description)
        .bind(new.config)
        .bind(new.secret_names)
        .bind(new.secrets)
        .bind(new.token.as_ref().map(|(sealed, _)| *sealed))
        .bind(new.token.as_ref().is_some_and(|(_, meta)| meta.has_refresh_token))
        .bind(new.token.as_ref().and_then(|(_, meta)| meta.refresh_token_expires_at))
        .fetch_one(&mut *tx)
        .await
        .on_conflict("connection")?;
        audit::record(&mut tx, audit_event).await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(concat!("select ", columns!(), " from connections order by id"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_connection(&self, id: &ConnectionId) -> Result<ConnectionRecord, StoreError> {
        let row: Option<ConnectionRow> =
            sqlx::query_as(concat!("select ", columns!(), " from connections where id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or(StoreError::NotFound("connection"))?.try_into()
    }

    pub async fn delete_connection(&self, id: &ConnectionId, audit_event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("delete from connections where id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("connection"));
        }
        sqlx::query("delete from refresh_attempts where connection_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        audit::record(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the connection's row lock (`SELECT … FOR UPDATE`) and reads the row under it.
    ///
    /// `hold_for` bounds the whole transaction: waiting for the lock gives up after it
    /// (`lock_timeout`), and a holder that stops talking mid-transaction is cut off by the
    /// server (`idle_in_transaction_session_timeout`), so a stuck refresh cannot wedge a
    /// connection for every replica. A process that dies frees the lock with its session.
    pub async fn lock_connection(&self, id: &ConnectionId, hold_for: Duration) -> Result<LockedConnection, StoreError> {
        self.lock(id, hold_for, false).await?.ok_or(StoreError::NotFound("connection"))
    }

    /// Like [`Store::lock_connection`], but `None` at once when another session holds the lock
    /// (or the row is gone): for background work that should skip rows someone is refreshing.
    pub async fn try_lock_connection(
        &self,
        id: &ConnectionId,
        hold_for: Duration,
    ) -> Result<Option<LockedConnection>, StoreError> {
        self.lock(id, hold_for, true).await
    }

    async fn lock(
        &self,
        id: &ConnectionId,
        hold_for: Duration,
        skip_locked: bool,
    ) -> Result<Option<LockedConnection>, StoreError> {
        let mut tx = self.begin().await?;
        let ms = hold_for.as_millis().max(1);
        // set_config(…, true) is SET LOCAL with bind parameters: it ends with the transaction.
        sqlx::query(
            "select set_config('lock_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)",
        )
        .bind(format!("{ms}ms"))
        .bind(format!("{}ms", ms * 2))
        .execute(&mut *tx)
        .await?;
        let query = if skip_locked {
            concat!("select ", columns!(), " from connections where id = $1 for update skip locked")
        } else {
            concat!("select ", columns!(), " from connections where id = $1 for update")
        };
        let row: Option<ConnectionRow> = sqlx::query_as(query).bind(id.as_str()).fetch_optional(&mut *tx).await?;
        match row {
            Some(row) => Ok(Some(LockedConnection { tx, record: row.try_into()? })),
            None => Ok(None),
        }
    }

    /// Records, committed at once and outside the refresh transaction, that a single-use
    /// refresh token (by its hash) is about to be sent. Must succeed before sending.
    pub async fn mark_refresh_attempt(&self, id: &ConnectionId, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "insert into refresh_attempts (connection_id, token_hash) values ($1, $2)
             on conflict (connection_id) do update set token_hash = excluded.token_hash, started_at = now()",
        )
        .bind(id.as_str())
        .bind(token_hash)
        .execute(&self.side)
        .await?;
        Ok(())
    }

    /// Notes which connections handed out tokens recently (batched, off the hot path).
    pub async fn touch_connections(&self, ids: &[String]) -> Result<(), StoreError> {
        // SKIP LOCKED: bookkeeping never waits behind a refresh, nor makes one wait behind it.
        sqlx::query(
            "update connections set last_used_at = now()
              where id in (select id from connections where id = any($1) for update skip locked)",
        )
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(())
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
        let ids: Vec<String> = sqlx::query_scalar(
            "select id from connections
              where status = 'active'
                and (retry_not_before is null or retry_not_before <= now())
                and ((last_used_at > now() - $3::interval
                      and (token_expires_at is null
                           or token_expires_at - now() < least($1::interval, (token_expires_at - token_obtained_at) / 2)))
                  or (has_refresh_token and refresh_token_expires_at < now() + $2::interval))
              order by token_expires_at nulls first
              limit $4",
        )
        .bind(interval(lead))
        .bind(interval(rotate_lead))
        .bind(interval(recently))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(ConnectionId::from_trusted).collect())
    }
}

/// A duration as a Postgres interval literal (bound as text and cast in the query).
fn interval(d: Duration) -> String {
    format!("{} milliseconds", d.as_millis())
}

/// A connection row held under its lock. Writes become visible together at [`commit`];
/// dropping it without committing rolls everything back and frees the lock.
///
/// [`commit`]: LockedConnection::commit
pub struct LockedConnection {
    tx: Transaction<'static, Postgres>,
    record: ConnectionRecord,
}

/// Changes an admin makes to a connection; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConnectionChange<'a> {
    pub description: Option<&'a str>,
    pub config: Option<&'a Value>,
    pub secrets: Option<(&'a [String], &'a [u8])>,
    pub status: Option<ConnectionStatus>,
    /// Forget the failure backoff (new secrets deserve a try now).
    pub reset_backoff: bool,
}

impl LockedConnection {
    pub fn record(&self) -> &ConnectionRecord {
        &self.record
    }

    /// Writes the outcome of a vendor call: the token state (sealed; `None` clears it) and
    /// either success (clears `last_error` and the backoff) or the failure. Also ends the
    /// single-use refresh attempt, if one was recorded, in the same transaction.
    pub async fn save_outcome(
        &mut self,
        sealed: Option<&[u8]>,
        meta: &TokenMeta,
        failure: Option<&Failure>,
    ) -> Result<(), StoreError> {
        let last_error = failure
            .map(|f| serde_json::to_value(&f.error))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row: ConnectionRow = sqlx::query_as(concat!(
            "update connections
                set token = $2, token_obtained_at = $3, token_expires_at = $4, has_refresh_token = $5,
                    refresh_token_expires_at = $6,
                    last_error = $7,
                    failure_count = case when $7 is null then 0 else failure_count + 1 end,
                    retry_not_before = $8,
                    status = coalesce($9, status),
                    generation = generation + 1
              where id = $1 returning ",
            columns!()
        ))
        .bind(self.record.id.as_str())
        .bind(sealed)
        .bind(meta.obtained_at)
        .bind(meta.expires_at)
        .bind(meta.has_refresh_token)
        .bind(meta.refresh_token_expires_at)
        .bind(last_error)
        .bind(failure.and_then(|f| f.retry_not_before))
        .bind(failure.and_then(|f| f.status).map(ConnectionStatus::as_str))
        .fetch_one(&mut *self.tx)
        .await?;
        self.record = row.try_into()?;
        self.clear_refresh_attempt().await
    }

    /// The hash of a single-use refresh token whose refresh never recorded its outcome.
    pub async fn refresh_attempt(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("select token_hash from refresh_attempts where connection_id = $1")
            .bind(self.record.id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?)
    }

    /// The outcome is being written in this transaction: the attempt is no longer in doubt.
    async fn clear_refresh_attempt(&mut self) -> Result<(), StoreError> {
        sqlx::query("delete from refresh_attempts where connection_id = $1")
            .bind(self.record.id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Records a failed vendor call; `status` also changes it (e.g. to `needs_reauth`).
    /// Applies an admin change; `token`, when given, replaces the sealed token state
    /// (`None` inside clears it) together with its plain facts.
    pub async fn apply(
        &mut self,
        change: &ConnectionChange<'_>,
        token: Option<(Option<&[u8]>, TokenMeta)>,
    ) -> Result<(), StoreError> {
        let (names, sealed) = match change.secrets {
            Some((names, sealed)) => (Some(names), Some(sealed)),
            None => (None, None),
        };
        let replace_token = token.is_some();
        let (token, meta) = token.unwrap_or_default();
        let row: ConnectionRow = sqlx::query_as(concat!(
            "update connections
                set description = coalesce($2, description),
                    config = coalesce($3, config),
                    secret_names = coalesce($4, secret_names),
                    secrets = coalesce($5, secrets),
                    -- New secrets deserve a try now, not after the old ones' backoff.
                    failure_count = case when $13 then 0 else failure_count end,
                    retry_not_before = case when $13 then null else retry_not_before end,
                    status = coalesce($6, status),
                    token = case when $7 then $8 else token end,
                    token_obtained_at = case when $7 then $9 else token_obtained_at end,
                    token_expires_at = case when $7 then $10 else token_expires_at end,
                    has_refresh_token = case when $7 then $11 else has_refresh_token end,
                    refresh_token_expires_at = case when $7 then $12 else refresh_token_expires_at end,
                    generation = generation + 1,
                    updated_at = now()
              where id = $1 returning ",
            columns!()
        ))
        .bind(self.record.id.as_str())
        .bind(change.description)
        .bind(change.config)
        .bind(names)
        .bind(sealed)
        .bind(change.status.map(ConnectionStatus::as_str))
        .bind(replace_token)
        .bind(token)
        .bind(meta.obtained_at)
        .bind(meta.expires_at)
        .bind(meta.has_refresh_token)
        .bind(meta.refresh_token_expires_at)
        .bind(change.reset_backoff)
        .fetch_one(&mut *self.tx)
        .await?;
        self.record = row.try_into()?;
        Ok(())
    }

    pub async fn audit(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        audit::record(&mut self.tx, event).await
    }

    pub async fn commit(self) -> Result<ConnectionRecord, StoreError> {
        self.tx.commit().await?;
        Ok(self.record)
    }

    /// Ends the transaction without writing, freeing the lock at once.
    pub async fn release(self) -> Result<ConnectionRecord, StoreError> {
        self.tx.rollback().await?;
        Ok(self.record)
    }
}
