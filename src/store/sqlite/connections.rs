//! Connections, and the lease: an in-process gate per connection (this process owns the file),
//! the row read under it, and writes that compare-and-set on the row's generation.

use std::time::Duration;

use chrono::Utc;
use sqlx::{FromRow, Sqlite, Transaction};

use super::{SqliteStore, audit, millis, ms, opt_time, time};
use crate::domain::{
    AuditEvent, ConnectionChange, ConnectionRecord, ConnectionStatus, LastError, NewConnection, RecordedFailure,
    TokenMeta,
};
use crate::gate::Turn;
use crate::ids::ConnectionId;
use crate::store::{ConnectionGauge, OnConflict, StoreError};

#[derive(FromRow)]
pub(super) struct ConnectionRow {
    id: String,
    provider: String,
    description: String,
    config: String,
    secret_names: String,
    secrets: Vec<u8>,
    status: String,
    token: Option<Vec<u8>>,
    token_obtained_at: Option<i64>,
    token_expires_at: Option<i64>,
    has_refresh_token: bool,
    refresh_token_expires_at: Option<i64>,
    last_error: Option<String>,
    failure_count: i32,
    retry_not_before: Option<i64>,
    last_used_at: Option<i64>,
    generation: i64,
    created_at: i64,
    updated_at: i64,
}

const TABLE: &str = "connections";

impl TryFrom<ConnectionRow> for ConnectionRecord {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ConnectionId::from_trusted(r.id),
            provider: r.provider,
            description: r.description,
            config: serde_json::from_str(&r.config).map_err(|e| StoreError::invalid(TABLE, "config", e))?,
            secret_names: serde_json::from_str(&r.secret_names)
                .map_err(|e| StoreError::invalid(TABLE, "secret_names", e))?,
            secrets: r.secrets,
            status: ConnectionStatus::parse(&r.status).map_err(StoreError::unknown(TABLE, "status"))?,
            token: r.token,
            token_meta: TokenMeta {
                obtained_at: opt_time(TABLE, "token_obtained_at", r.token_obtained_at)?,
                expires_at: opt_time(TABLE, "token_expires_at", r.token_expires_at)?,
                has_refresh_token: r.has_refresh_token,
                refresh_token_expires_at: opt_time(TABLE, "refresh_token_expires_at", r.refresh_token_expires_at)?,
            },
            // A last_error we cannot read is shown as none rather than failing the whole view.
            last_error: r.last_error.and_then(|v| serde_json::from_str::<LastError>(&v).ok()),
            failure_count: r.failure_count,
            retry_not_before: opt_time(TABLE, "retry_not_before", r.retry_not_before)?,
            last_used_at: opt_time(TABLE, "last_used_at", r.last_used_at)?,
            generation: r.generation,
            created_at: time(TABLE, "created_at", r.created_at)?,
            updated_at: time(TABLE, "updated_at", r.updated_at)?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, provider, description, config, secret_names, secrets, status, token, token_obtained_at,
         token_expires_at, has_refresh_token, refresh_token_expires_at, last_error, failure_count,
         retry_not_before, last_used_at, generation, created_at, updated_at"
    };
}
pub(super) use columns;

pub(super) fn json_text(value: &impl serde::Serialize, column: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::invalid(TABLE, column, e))
}

impl SqliteStore {
    pub async fn create_connection(
        &self,
        new: NewConnection<'_>,
        event: &AuditEvent,
    ) -> Result<ConnectionRecord, StoreError> {
        let now = ms(Utc::now());
        let mut tx = self.begin().await?;
        let row: ConnectionRow = sqlx::query_as(concat!(
            "insert into connections (id, provider, description, config, secret_names, secrets, token,
                 has_refresh_token, refresh_token_expires_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) returning ",
            columns!()
        ))
        .bind(new.id.as_str())
        .bind(new.provider)
        .bind(new.description)
        .bind(json_text(new.config, "config")?)
        .bind(json_text(&new.secret_names, "secret_names")?)
        .bind(new.secrets)
        .bind(new.token.as_ref().map(|(sealed, _)| *sealed))
        .bind(new.token.as_ref().is_some_and(|(_, meta)| meta.has_refresh_token))
        .bind(new.token.as_ref().and_then(|(_, meta)| meta.refresh_token_expires_at).map(ms))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .on_conflict("connection")?;
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn list_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(concat!("select ", columns!(), " from connections order by id"))
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_connection(&self, id: &ConnectionId) -> Result<ConnectionRecord, StoreError> {
        self.read_connection(id).await?.ok_or(StoreError::NotFound("connection"))
    }

    async fn read_connection(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>, StoreError> {
        let row: Option<ConnectionRow> =
            sqlx::query_as(concat!("select ", columns!(), " from connections where id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.readers)
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Waits for a refresh in progress (the delete takes the lease) and removes the row.
    pub async fn delete_connection(&self, id: &ConnectionId, event: &AuditEvent) -> Result<(), StoreError> {
        let _turn = self.leases.enter(id.as_str()).await;
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

    pub async fn lease(
        &self,
        id: &ConnectionId,
        hold_for: Duration,
        skip_held: bool,
    ) -> Result<Option<SqliteLease>, StoreError> {
        let turn = if skip_held {
            match self.leases.try_enter(id.as_str()) {
                Some(turn) => turn,
                None => return Ok(None),
            }
        } else {
            self.leases.enter_within(id.as_str(), hold_for).await.ok_or(StoreError::LockTimeout)?
        };
        // Read under the gate: whatever the previous holder committed is visible now.
        match self.read_connection(id).await? {
            Some(record) => Ok(Some(SqliteLease { store: self.clone(), _turn: turn, record, tx: None })),
            None => Ok(None),
        }
    }

    pub async fn touch_connections(&self, ids: &[String], at: chrono::DateTime<Utc>) -> Result<(), StoreError> {
        // Bookkeeping: the generation stays, so nobody's cached copy is invalidated.
        sqlx::query("update connections set last_used_at = $2 where id in (select value from json_each($1))")
            .bind(json_text(&ids, "id")?)
            .bind(ms(at))
            .execute(&self.writer)
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
                and (retry_not_before is null or retry_not_before <= $1)
                and ((last_used_at > $1 - $4
                      and (token_expires_at is null
                           or token_expires_at - $1 < min($2, (token_expires_at - token_obtained_at) / 2)))
                  or (has_refresh_token and refresh_token_expires_at < $1 + $3))
              order by token_expires_at nulls first
              limit $5",
        )
        .bind(ms(Utc::now()))
        .bind(millis(lead))
        .bind(millis(rotate_lead))
        .bind(millis(recently))
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        Ok(ids.into_iter().map(ConnectionId::from_trusted).collect())
    }
}

impl SqliteStore {
    pub async fn connection_gauges(&self) -> Result<Vec<ConnectionGauge>, StoreError> {
        let rows: Vec<(String, String, String, i32, Option<i64>)> = sqlx::query_as(
            "select id, provider, status, failure_count,
                    case when has_refresh_token then refresh_token_expires_at end
               from connections order by id",
        )
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter()
            .map(|(id, provider, status, failure_count, ends)| {
                Ok(ConnectionGauge {
                    status: ConnectionStatus::parse(&status).map_err(StoreError::unknown(TABLE, "status"))?,
                    refresh_token_expires_at: opt_time(TABLE, "refresh_token_expires_at", ends)?,
                    id,
                    provider,
                    failure_count,
                })
            })
            .collect()
    }
}

/// A connection held under its gate. Writes open one short `BEGIN IMMEDIATE` transaction,
/// committed at [`SqliteLease::commit`]; each update is a compare-and-set on the generation
/// read under the gate.
pub struct SqliteLease {
    store: SqliteStore,
    _turn: Turn,
    record: ConnectionRecord,
    tx: Option<Transaction<'static, Sqlite>>,
}

impl SqliteLease {
    pub fn record(&self) -> &ConnectionRecord {
        &self.record
    }

    async fn tx(&mut self) -> Result<&mut Transaction<'static, Sqlite>, StoreError> {
        if self.tx.is_none() {
            self.tx = Some(self.store.begin().await?);
        }
        self.tx.as_mut().ok_or(StoreError::LeaseLost)
    }

    pub async fn refresh_attempt(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let query = sqlx::query_scalar("select token_hash from refresh_attempts where connection_id = $1")
            .bind(self.record.id.as_str());
        Ok(match &mut self.tx {
            Some(tx) => query.fetch_optional(&mut **tx).await?,
            None => query.fetch_optional(&self.store.readers).await?,
        })
    }

    /// Its own committed write, before the vendor is called. The single writer is free here:
    /// the contract puts this before any other write through the lease.
    pub async fn mark_refresh_attempt(&mut self, token_hash: &[u8]) -> Result<(), StoreError> {
        if self.tx.is_some() {
            return Err(StoreError::LeaseLost);
        }
        sqlx::query(
            "insert into refresh_attempts (connection_id, token_hash, started_at) values ($1, $2, $3)
             on conflict (connection_id) do update set token_hash = excluded.token_hash, started_at = excluded.started_at",
        )
        .bind(self.record.id.as_str())
        .bind(token_hash)
        .bind(ms(Utc::now()))
        .execute(&self.store.writer)
        .await?;
        Ok(())
    }

    pub async fn save_outcome(
        &mut self,
        sealed: Option<&[u8]>,
        meta: &TokenMeta,
        failure: Option<&RecordedFailure>,
    ) -> Result<(), StoreError> {
        let last_error = failure.map(|f| json_text(&f.error, "last_error")).transpose()?;
        let (id, generation) = (self.record.id.as_str().to_owned(), self.record.generation);
        let tx = self.tx().await?;
        let row: Option<ConnectionRow> = sqlx::query_as(concat!(
            "update connections
                set token = $3, token_obtained_at = $4, token_expires_at = $5, has_refresh_token = $6,
                    refresh_token_expires_at = $7,
                    last_error = $8,
                    failure_count = case when $8 is null then 0 else failure_count + 1 end,
                    retry_not_before = $9,
                    status = coalesce($10, status),
                    generation = generation + 1
              where id = $1 and generation = $2 returning ",
            columns!()
        ))
        .bind(&id)
        .bind(generation)
        .bind(sealed)
        .bind(meta.obtained_at.map(ms))
        .bind(meta.expires_at.map(ms))
        .bind(meta.has_refresh_token)
        .bind(meta.refresh_token_expires_at.map(ms))
        .bind(last_error)
        .bind(failure.and_then(|f| f.retry_not_before).map(ms))
        .bind(failure.and_then(|f| f.status).map(ConnectionStatus::as_str))
        .fetch_optional(&mut **tx)
        .await?;
        // The outcome is written in this transaction: the attempt is no longer in doubt.
        sqlx::query("delete from refresh_attempts where connection_id = $1").bind(&id).execute(&mut **tx).await?;
        self.record = row.ok_or(StoreError::LeaseLost)?.try_into()?;
        Ok(())
    }

    pub async fn apply(&mut self, change: &ConnectionChange<'_>) -> Result<(), StoreError> {
        let (names, sealed) = match change.secrets {
            Some((names, sealed)) => (Some(json_text(&names, "secret_names")?), Some(sealed)),
            None => (None, None),
        };
        let config = change.config.map(|c| json_text(c, "config")).transpose()?;
        let replace_token = change.token.is_some();
        let (token, meta) = change.token.clone().unwrap_or_default();
        let (id, generation) = (self.record.id.as_str().to_owned(), self.record.generation);
        let tx = self.tx().await?;
        let row: Option<ConnectionRow> = sqlx::query_as(concat!(
            "update connections
                set description = coalesce($3, description),
                    config = coalesce($4, config),
                    secret_names = coalesce($5, secret_names),
                    secrets = coalesce($6, secrets),
                    failure_count = case when $14 then 0 else failure_count end,
                    retry_not_before = case when $14 then null else retry_not_before end,
                    status = coalesce($7, status),
                    token = case when $8 then $9 else token end,
                    token_obtained_at = case when $8 then $10 else token_obtained_at end,
                    token_expires_at = case when $8 then $11 else token_expires_at end,
                    has_refresh_token = case when $8 then $12 else has_refresh_token end,
                    refresh_token_expires_at = case when $8 then $13 else refresh_token_expires_at end,
                    generation = generation + 1,
                    updated_at = $15
              where id = $1 and generation = $2 returning ",
            columns!()
        ))
        .bind(&id)
        .bind(generation)
        .bind(change.description)
        .bind(config)
        .bind(names)
        .bind(sealed)
        .bind(change.status.map(ConnectionStatus::as_str))
        .bind(replace_token)
        .bind(token)
        .bind(meta.obtained_at.map(ms))
        .bind(meta.expires_at.map(ms))
        .bind(meta.has_refresh_token)
        .bind(meta.refresh_token_expires_at.map(ms))
        .bind(change.reset_backoff)
        .bind(ms(Utc::now()))
        .fetch_optional(&mut **tx)
        .await?;
        self.record = row.ok_or(StoreError::LeaseLost)?.try_into()?;
        Ok(())
    }

    pub async fn audit(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        let tx = self.tx().await?;
        audit::record(tx, event).await
    }

    pub async fn commit(self) -> Result<ConnectionRecord, StoreError> {
        if let Some(tx) = self.tx {
            tx.commit().await?;
        }
        Ok(self.record)
    }

    pub async fn release(self) -> Result<ConnectionRecord, StoreError> {
        if let Some(tx) = self.tx {
            tx.rollback().await?;
        }
        Ok(self.record)
    }
}
