//! Connections: config in plain columns, secrets and tokens sealed, and the row lock that is
//! the lease across every replica.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, Transaction};

use super::{PgStore, audit, interval};
use crate::domain::{
    AuditEvent, ConnectionChange, ConnectionRecord, ConnectionStatus, NewConnection, RecordedFailure, TokenMeta,
};
use crate::ids::ConnectionId;
use crate::store::{ConnectionGauge, OnConflict, StoreError};

#[derive(FromRow)]
pub(super) struct ConnectionRow {
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
            status: ConnectionStatus::parse(&r.status).map_err(StoreError::unknown("connections", "status"))?,
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
pub(super) use columns;

impl PgStore {
    pub async fn create_connection(
        &self,
        new: NewConnection<'_>,
        event: &AuditEvent,
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
        audit::record(&mut tx, event).await?;
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

    /// Waits for a refresh in progress (the delete needs the row lock) and removes the row.
    pub async fn delete_connection(&self, id: &ConnectionId, event: &AuditEvent) -> Result<(), StoreError> {
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
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The row lock (`SELECT … FOR UPDATE`, or `SKIP LOCKED` when `skip_held`) and the row
    /// read under it. `hold_for` bounds the whole transaction: waiting for the lock gives up
    /// after it (`lock_timeout`), and a holder that stops talking mid-transaction is cut off by
    /// the server (`idle_in_transaction_session_timeout`), so a stuck refresh cannot wedge a
    /// connection for every replica. A process that dies frees the lock with its session.
    pub async fn lease(
        &self,
        id: &ConnectionId,
        hold_for: Duration,
        skip_held: bool,
    ) -> Result<Option<PgLease>, StoreError> {
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
        let query = if skip_held {
            concat!("select ", columns!(), " from connections where id = $1 for update skip locked")
        } else {
            concat!("select ", columns!(), " from connections where id = $1 for update")
        };
        let row: Option<ConnectionRow> = sqlx::query_as(query).bind(id.as_str()).fetch_optional(&mut *tx).await?;
        match row {
            Some(row) => Ok(Some(PgLease { tx, side: self.side.clone(), record: row.try_into()? })),
            None => Ok(None),
        }
    }

    pub async fn touch_connections(&self, ids: &[String], at: DateTime<Utc>) -> Result<(), StoreError> {
        // SKIP LOCKED: bookkeeping never waits behind a refresh, nor makes one wait behind it.
        sqlx::query(
            "update connections set last_used_at = $2
              where id in (select id from connections where id = any($1) for update skip locked)",
        )
        .bind(ids)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

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

impl PgStore {
    pub async fn connection_gauges(&self) -> Result<Vec<ConnectionGauge>, StoreError> {
        type Row = (String, String, String, i32, Option<DateTime<Utc>>);
        let rows: Vec<Row> = sqlx::query_as(
            "select id, provider, status, failure_count,
                    case when has_refresh_token then refresh_token_expires_at end
               from connections order by id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, provider, status, failure_count, refresh_token_expires_at)| {
                Ok(ConnectionGauge {
                    status: ConnectionStatus::parse(&status).map_err(StoreError::unknown("connections", "status"))?,
                    id,
                    provider,
                    failure_count,
                    refresh_token_expires_at,
                })
            })
            .collect()
    }
}

/// A connection row held under its row lock, inside a transaction.
pub struct PgLease {
    tx: Transaction<'static, Postgres>,
    /// For the in-doubt marker, which must commit on its own while the row stays locked.
    side: PgPool,
    record: ConnectionRecord,
}

impl PgLease {
    pub fn record(&self) -> &ConnectionRecord {
        &self.record
    }

    pub async fn refresh_attempt(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("select token_hash from refresh_attempts where connection_id = $1")
            .bind(self.record.id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?)
    }

    /// Committed at once on a side connection, outside the lease's transaction (which may yet
    /// roll back). No foreign key: it would need a lock on the row this lease holds.
    pub async fn mark_refresh_attempt(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "insert into refresh_attempts (connection_id, token_hash) values ($1, $2)
             on conflict (connection_id) do update set token_hash = excluded.token_hash, started_at = now()",
        )
        .bind(self.record.id.as_str())
        .bind(token_hash)
        .execute(&self.side)
        .await?;
        Ok(())
    }

    pub async fn save_outcome(
        &mut self,
        sealed: Option<&[u8]>,
        meta: &TokenMeta,
        failure: Option<&RecordedFailure>,
    ) -> Result<(), StoreError> {
        let last_error = failure
            .map(|f| serde_json::to_value(&f.error))
            .transpose()
            .map_err(|e| StoreError::invalid("connections", "last_error", e))?;
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
        // The outcome is written in this transaction: the attempt is no longer in doubt.
        sqlx::query("delete from refresh_attempts where connection_id = $1")
            .bind(self.record.id.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn apply(&mut self, change: &ConnectionChange<'_>) -> Result<(), StoreError> {
        let (names, sealed) = match change.secrets {
            Some((names, sealed)) => (Some(names), Some(sealed)),
            None => (None, None),
        };
        let replace_token = change.token.is_some();
        let (token, meta) = change.token.clone().unwrap_or_default();
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

    pub async fn release(self) -> Result<ConnectionRecord, StoreError> {
        self.tx.rollback().await?;
        Ok(self.record)
    }
}
