//! Principals, their API keys (hashes only) and their grants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgConnection};
use utoipa::ToSchema;

use super::audit::{self, AuditEvent};
use super::{OnConflict, Store, StoreError};
use crate::ids::{GrantPattern, PrincipalId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Service,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    fn from_db(s: &str) -> Result<Self, StoreError> {
        match s {
            "admin" => Ok(Role::Admin),
            "service" => Ok(Role::Service),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum GrantChange {
    Put,
    Delete,
}

#[derive(Debug, Clone)]
pub struct PrincipalRecord {
    pub id: PrincipalId,
    pub role: Role,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct PrincipalRow {
    id: String,
    role: String,
    description: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<PrincipalRow> for PrincipalRecord {
    type Error = StoreError;
    fn try_from(row: PrincipalRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: PrincipalId::from_trusted(row.id),
            role: Role::from_db(&row.role)?,
            description: row.description,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct KeyRecord {
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an API key proves, looked up by the key's hash in one query.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key_id: String,
    pub principal_id: PrincipalId,
    pub role: Role,
    pub grants: Vec<GrantPattern>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct AuthRow {
    key_id: String,
    principal_id: String,
    role: String,
    grants: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

macro_rules! principal_columns {
    () => {
        "id, role, description, created_at"
    };
}
macro_rules! key_columns {
    () => {
        "id as key_id, created_at, expires_at, revoked_at"
    };
}

/// Advisory lock id for first-start bootstrap ("tbak" in ASCII); held only for that transaction.
const BOOTSTRAP_LOCK: i64 = 0x7462_616b;

impl Store {
    pub async fn authenticate(&self, key_hash: &[u8]) -> Result<Option<Authenticated>, StoreError> {
        let row: Option<AuthRow> = sqlx::query_as(
            "select k.id as key_id, p.id as principal_id, p.role, k.expires_at, k.revoked_at,
                    array(select g.pattern from grants g where g.principal_id = p.id order by g.pattern) as grants
               from api_keys k join principals p on p.id = k.principal_id
              where k.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Authenticated {
                key_id: r.key_id,
                principal_id: PrincipalId::from_trusted(r.principal_id),
                role: Role::from_db(&r.role)?,
                grants: r.grants.into_iter().map(GrantPattern::from_trusted).collect(),
                expires_at: r.expires_at,
                revoked_at: r.revoked_at,
            })
        })
        .transpose()
    }

    pub async fn create_principal(
        &self,
        id: &PrincipalId,
        role: Role,
        description: &str,
        audit_event: &AuditEvent,
    ) -> Result<PrincipalRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row: PrincipalRow = sqlx::query_as(concat!(
            "insert into principals (id, role, description) values ($1, $2, $3) returning ",
            principal_columns!()
        ))
        .bind(id.as_str())
        .bind(role.as_str())
        .bind(description)
        .fetch_one(&mut *tx)
        .await
        .on_conflict("principal")?;
        audit::record(&mut tx, audit_event).await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn list_principals(&self) -> Result<Vec<PrincipalRecord>, StoreError> {
        let rows: Vec<PrincipalRow> =
            sqlx::query_as(concat!("select ", principal_columns!(), " from principals order by id"))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_principal(&self, id: &PrincipalId) -> Result<PrincipalRecord, StoreError> {
        let row: Option<PrincipalRow> =
            sqlx::query_as(concat!("select ", principal_columns!(), " from principals where id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or(StoreError::NotFound("principal"))?.try_into()
    }

    /// Deletes the principal; its keys and grants go with it (foreign keys cascade).
    pub async fn delete_principal(&self, id: &PrincipalId, audit_event: &AuditEvent) -> Result<(), StoreError> {
        let delete = sqlx::query("delete from principals where id = $1").bind(id.as_str());
        self.change_one(delete, "principal", audit_event).await
    }

    pub async fn create_key(
        &self,
        principal: &PrincipalId,
        key_id: &str,
        key_hash: &[u8],
        expires_at: Option<DateTime<Utc>>,
        audit_event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let mut tx = self.begin().await?;
        let key: Option<KeyRecord> = sqlx::query_as(concat!(
            "insert into api_keys (id, principal_id, key_hash, expires_at)
             select $1, p.id, $3, $4 from principals p where p.id = $2
             returning ",
            key_columns!()
        ))
        .bind(key_id)
        .bind(principal.as_str())
        .bind(key_hash)
        .bind(expires_at)
        .fetch_optional(&mut *tx)
        .await
        .on_conflict("api key")?;
        let key = key.ok_or(StoreError::NotFound("principal"))?;
        audit::record(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn list_keys(&self, principal: &PrincipalId) -> Result<Vec<KeyRecord>, StoreError> {
        self.get_principal(principal).await?;
        Ok(sqlx::query_as(concat!(
            "select ",
            key_columns!(),
            " from api_keys where principal_id = $1 order by created_at, id"
        ))
        .bind(principal.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes a key (idempotent); the row stays for the audit trail.
    pub async fn revoke_key(
        &self,
        principal: &PrincipalId,
        key_id: &str,
        audit_event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let revoke = sqlx::query(
            "update api_keys set revoked_at = coalesce(revoked_at, now()) where principal_id = $1 and id = $2",
        )
        .bind(principal.as_str())
        .bind(key_id);
        self.change_one(revoke, "api key", audit_event).await
    }

    /// Adds or removes (idempotently) a grant of an existing principal, with its audit event.
    pub async fn change_grant(
        &self,
        change: GrantChange,
        principal: &PrincipalId,
        pattern: &GrantPattern,
        audit_event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // FOR SHARE: a concurrent delete of the principal waits for us (or we see it gone).
        let exists: Option<String> = sqlx::query_scalar("select id from principals where id = $1 for share")
            .bind(principal.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("principal"));
        }
        let statement = match change {
            GrantChange::Put => "insert into grants (principal_id, pattern) values ($1, $2) on conflict do nothing",
            GrantChange::Delete => "delete from grants where principal_id = $1 and pattern = $2",
        };
        sqlx::query(statement).bind(principal.as_str()).bind(pattern.as_str()).execute(&mut *tx).await?;
        audit::record(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_grants(&self, principal: &PrincipalId) -> Result<Vec<GrantPattern>, StoreError> {
        self.get_principal(principal).await?;
        let rows: Vec<String> =
            sqlx::query_scalar("select pattern from grants where principal_id = $1 order by pattern")
                .bind(principal.as_str())
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(GrantPattern::from_trusted).collect())
    }

    /// Ensures principal `admin` (role admin) and that `key_hash` authenticates it, un-revoking
    /// the key if needed. Idempotent, safe for replicas starting together.
    pub async fn ensure_bootstrap_admin(&self, key_id: &str, key_hash: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        ensure_admin_key(&mut tx, key_id, key_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// On a database with no principal at all, creates `admin` with the given key.
    /// Returns false (and writes nothing) when any principal exists, so only one replica wins.
    pub async fn bootstrap_if_empty(&self, key_id: &str, key_hash: &[u8]) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Serializes concurrent first starts without a table lock held by normal traffic.
        sqlx::query("select pg_advisory_xact_lock($1)").bind(BOOTSTRAP_LOCK).execute(&mut *tx).await?;
        let any: bool = sqlx::query_scalar("select exists(select 1 from principals)").fetch_one(&mut *tx).await?;
        if any {
            return Ok(false);
        }
        ensure_admin_key(&mut tx, key_id, key_hash).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Makes principal `admin` an admin that `key_hash` authenticates (creating, re-roling or
/// un-revoking as needed), with an audit event when anything changed.
async fn ensure_admin_key(conn: &mut PgConnection, key_id: &str, key_hash: &[u8]) -> Result<(), StoreError> {
    let created = sqlx::query(
        "insert into principals (id, role, description) values ('admin', 'admin', 'bootstrap administrator')
         on conflict (id) do update set role = 'admin' where principals.role <> 'admin'",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let key_changed = sqlx::query(
        "insert into api_keys (id, principal_id, key_hash) values ($1, 'admin', $2)
         on conflict (key_hash) do update set principal_id = 'admin', revoked_at = null, expires_at = null
           where api_keys.revoked_at is not null or api_keys.expires_at is not null or api_keys.principal_id <> 'admin'",
    )
    .bind(key_id)
    .bind(key_hash)
    .execute(&mut *conn)
    .await
    .on_conflict("api key")?
    .rows_affected();
    if created + key_changed > 0 {
        let event = AuditEvent::success(
            None,
            "principal.bootstrap",
            serde_json::json!({"principal": "admin", "key_id": key_id}),
        );
        audit::record(conn, &event).await?;
    }
    Ok(())
}
