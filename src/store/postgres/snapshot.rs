//! Whole-installation reads and writes for `tokenbroker copy`.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::audit::AuditRow;
use super::connections::{ConnectionRow, columns};
use super::principals::{PrincipalRow, principal_columns};
use super::{PgStore, StoreError};
use crate::domain::ConnectionStatus;
use crate::store::{Counts, Snapshot, StoredGrant, StoredKey, StoredRefreshAttempt};

#[derive(FromRow)]
struct KeyRow {
    id: String,
    principal_id: String,
    key_hash: Vec<u8>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl PgStore {
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let (principals, api_keys, grants, connections, refresh_attempts, audit_events): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "select (select count(*) from principals), (select count(*) from api_keys),
                        (select count(*) from grants), (select count(*) from connections),
                        (select count(*) from refresh_attempts), (select count(*) from audit_events)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts { principals, api_keys, grants, connections, refresh_attempts, audit_events })
    }

    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        // One snapshot of the whole database, so the copy is consistent with itself.
        let mut tx = self.pool.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;
        let principals: Vec<PrincipalRow> =
            sqlx::query_as(concat!("select ", principal_columns!(), " from principals order by id"))
                .fetch_all(&mut *tx)
                .await?;
        let keys: Vec<KeyRow> = sqlx::query_as(
            "select id, principal_id, key_hash, created_at, expires_at, revoked_at from api_keys order by id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let grants: Vec<(String, String, DateTime<Utc>)> =
            sqlx::query_as("select principal_id, pattern, created_at from grants order by principal_id, pattern")
                .fetch_all(&mut *tx)
                .await?;
        let connections: Vec<ConnectionRow> =
            sqlx::query_as(concat!("select ", columns!(), " from connections order by id")).fetch_all(&mut *tx).await?;
        let attempts: Vec<(String, Vec<u8>, DateTime<Utc>)> =
            sqlx::query_as("select connection_id, token_hash, started_at from refresh_attempts order by connection_id")
                .fetch_all(&mut *tx)
                .await?;
        let audit: Vec<AuditRow> = sqlx::query_as(
            "select id, at, principal_id, action, connection_id, outcome, detail from audit_events order by id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Snapshot {
            principals: principals.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
            keys: keys
                .into_iter()
                .map(|k| StoredKey {
                    key_id: k.id,
                    principal_id: k.principal_id,
                    key_hash: k.key_hash,
                    created_at: k.created_at,
                    expires_at: k.expires_at,
                    revoked_at: k.revoked_at,
                })
                .collect(),
            grants: grants
                .into_iter()
                .map(|(principal_id, pattern, created_at)| StoredGrant { principal_id, pattern, created_at })
                .collect(),
            connections: connections.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
            refresh_attempts: attempts
                .into_iter()
                .map(|(connection_id, token_hash, started_at)| StoredRefreshAttempt {
                    connection_id,
                    token_hash,
                    started_at,
                })
                .collect(),
            audit: audit.into_iter().map(Into::into).collect(),
        })
    }

    pub async fn import(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for p in &snapshot.principals {
            sqlx::query("insert into principals (id, role, description, created_at) values ($1, $2, $3, $4)")
                .bind(p.id.as_str())
                .bind(p.role.as_str())
                .bind(&p.description)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await?;
        }
        for k in &snapshot.keys {
            sqlx::query(
                "insert into api_keys (id, principal_id, key_hash, created_at, expires_at, revoked_at)
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&k.key_id)
            .bind(&k.principal_id)
            .bind(&k.key_hash)
            .bind(k.created_at)
            .bind(k.expires_at)
            .bind(k.revoked_at)
            .execute(&mut *tx)
            .await?;
        }
        for g in &snapshot.grants {
            sqlx::query("insert into grants (principal_id, pattern, created_at) values ($1, $2, $3)")
                .bind(&g.principal_id)
                .bind(&g.pattern)
                .bind(g.created_at)
                .execute(&mut *tx)
                .await?;
        }
        for c in &snapshot.connections {
            let last_error = c
                .last_error
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| StoreError::invalid("connections", "last_error", e))?;
            sqlx::query(
                "insert into connections (id, provider, description, config, secret_names, secrets, status, token,
                     token_obtained_at, token_expires_at, has_refresh_token, refresh_token_expires_at, last_error,
                     failure_count, retry_not_before, last_used_at, generation, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
            )
            .bind(c.id.as_str())
            .bind(&c.provider)
            .bind(&c.description)
            .bind(&c.config)
            .bind(&c.secret_names)
            .bind(&c.secrets)
            .bind(ConnectionStatus::as_str(c.status))
            .bind(&c.token)
            .bind(c.token_meta.obtained_at)
            .bind(c.token_meta.expires_at)
            .bind(c.token_meta.has_refresh_token)
            .bind(c.token_meta.refresh_token_expires_at)
            .bind(last_error)
            .bind(c.failure_count)
            .bind(c.retry_not_before)
            .bind(c.last_used_at)
            .bind(c.generation)
            .bind(c.created_at)
            .bind(c.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        for a in &snapshot.refresh_attempts {
            sqlx::query("insert into refresh_attempts (connection_id, token_hash, started_at) values ($1, $2, $3)")
                .bind(&a.connection_id)
                .bind(&a.token_hash)
                .bind(a.started_at)
                .execute(&mut *tx)
                .await?;
        }
        for e in &snapshot.audit {
            sqlx::query(
                "insert into audit_events (id, at, principal_id, action, connection_id, outcome, detail)
                 values ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(e.id)
            .bind(e.at)
            .bind(&e.principal_id)
            .bind(&e.action)
            .bind(&e.connection_id)
            .bind(&e.outcome)
            .bind(&e.detail)
            .execute(&mut *tx)
            .await?;
        }
        // Explicit ids leave the sequence behind: new events must come after the copied ones.
        sqlx::query(
            "select setval(pg_get_serial_sequence('audit_events', 'id'), coalesce((select max(id) from audit_events), 0) + 1, false)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
