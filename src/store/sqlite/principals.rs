//! Principals, their API keys (hashes only) and their grants.

use chrono::Utc;
use sqlx::{FromRow, SqliteConnection};

use super::{SqliteStore, audit, ms, opt_time, time};
use crate::domain::{AuditEvent, Authenticated, GrantChange, KeyRecord, NewKey, PrincipalRecord, Role};
use crate::ids::{GrantPattern, PrincipalId};
use crate::store::{Bootstrapped, OnConflict, StoreError};

#[derive(FromRow)]
pub(super) struct PrincipalRow {
    id: String,
    role: String,
    description: String,
    created_at: i64,
}

impl TryFrom<PrincipalRow> for PrincipalRecord {
    type Error = StoreError;
    fn try_from(row: PrincipalRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: PrincipalId::from_trusted(row.id),
            role: Role::parse(&row.role).map_err(StoreError::unknown("principals", "role"))?,
            description: row.description,
            created_at: time("principals", "created_at", row.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct KeyRow {
    key_id: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            key_id: r.key_id,
            created_at: time("api_keys", "created_at", r.created_at)?,
            expires_at: opt_time("api_keys", "expires_at", r.expires_at)?,
            revoked_at: opt_time("api_keys", "revoked_at", r.revoked_at)?,
        })
    }
}

#[derive(FromRow)]
struct AuthRow {
    key_id: String,
    principal_id: String,
    role: String,
    grants: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

macro_rules! principal_columns {
    () => {
        "id, role, description, created_at"
    };
}
pub(super) use principal_columns;

macro_rules! key_columns {
    () => {
        "id as key_id, created_at, expires_at, revoked_at"
    };
}

impl SqliteStore {
    pub async fn authenticate(&self, key_hash: &[u8]) -> Result<Option<Authenticated>, StoreError> {
        let row: Option<AuthRow> = sqlx::query_as(
            "select k.id as key_id, p.id as principal_id, p.role, k.expires_at, k.revoked_at,
                    (select json_group_array(pattern)
                       from (select g.pattern from grants g where g.principal_id = p.id order by g.pattern)) as grants
               from api_keys k join principals p on p.id = k.principal_id
              where k.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(&self.readers)
        .await?;
        row.map(|r| {
            let grants: Vec<String> =
                serde_json::from_str(&r.grants).map_err(|e| StoreError::invalid("grants", "pattern", e))?;
            Ok(Authenticated {
                key_id: r.key_id,
                principal_id: PrincipalId::from_trusted(r.principal_id),
                role: Role::parse(&r.role).map_err(StoreError::unknown("principals", "role"))?,
                grants: grants.into_iter().map(GrantPattern::from_trusted).collect(),
                expires_at: opt_time("api_keys", "expires_at", r.expires_at)?,
                revoked_at: opt_time("api_keys", "revoked_at", r.revoked_at)?,
            })
        })
        .transpose()
    }

    pub async fn create_principal(
        &self,
        id: &PrincipalId,
        role: Role,
        description: &str,
        event: &AuditEvent,
    ) -> Result<PrincipalRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row: PrincipalRow = sqlx::query_as(concat!(
            "insert into principals (id, role, description, created_at) values ($1, $2, $3, $4) returning ",
            principal_columns!()
        ))
        .bind(id.as_str())
        .bind(role.as_str())
        .bind(description)
        .bind(ms(Utc::now()))
        .fetch_one(&mut *tx)
        .await
        .on_conflict("principal")?;
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn list_principals(&self) -> Result<Vec<PrincipalRecord>, StoreError> {
        let rows: Vec<PrincipalRow> =
            sqlx::query_as(concat!("select ", principal_columns!(), " from principals order by id"))
                .fetch_all(&self.readers)
                .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn get_principal(&self, id: &PrincipalId) -> Result<PrincipalRecord, StoreError> {
        let row: Option<PrincipalRow> =
            sqlx::query_as(concat!("select ", principal_columns!(), " from principals where id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.readers)
                .await?;
        row.ok_or(StoreError::NotFound("principal"))?.try_into()
    }

    pub async fn delete_principal(&self, id: &PrincipalId, event: &AuditEvent) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE serializes writers: the admin count cannot change under us.
        let mut tx = self.begin().await?;
        let admins: Vec<String> = sqlx::query_scalar("select id from principals where role = 'admin' order by id")
            .fetch_all(&mut *tx)
            .await?;
        if admins.len() == 1 && admins[0] == id.as_str() {
            return Err(StoreError::LastAdmin(format!("principal {id}")));
        }
        // Keys and grants go with it (foreign keys cascade).
        let deleted = sqlx::query("delete from principals where id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("principal"));
        }
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_key(
        &self,
        principal: &PrincipalId,
        key: NewKey<'_>,
        event: &AuditEvent,
    ) -> Result<KeyRecord, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<KeyRow> = sqlx::query_as(concat!(
            "insert into api_keys (id, principal_id, key_hash, expires_at, created_at)
             select $1, p.id, $3, $4, $5 from principals p where p.id = $2
             returning ",
            key_columns!()
        ))
        .bind(key.key_id)
        .bind(principal.as_str())
        .bind(key.hash)
        .bind(key.expires_at.map(ms))
        .bind(ms(Utc::now()))
        .fetch_optional(&mut *tx)
        .await
        .on_conflict("api key")?;
        let row = row.ok_or(StoreError::NotFound("principal"))?;
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn list_keys(&self, principal: &PrincipalId) -> Result<Vec<KeyRecord>, StoreError> {
        self.get_principal(principal).await?;
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            "select ",
            key_columns!(),
            " from api_keys where principal_id = $1 order by created_at, id"
        ))
        .bind(principal.as_str())
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn revoke_key(
        &self,
        principal: &PrincipalId,
        key_id: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "update api_keys set revoked_at = coalesce(revoked_at, $3) where principal_id = $1 and id = $2",
        )
        .bind(principal.as_str())
        .bind(key_id)
        .bind(ms(Utc::now()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound("api key"));
        }
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn change_grant(
        &self,
        change: GrantChange,
        principal: &PrincipalId,
        pattern: &GrantPattern,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let exists: Option<String> = sqlx::query_scalar("select id from principals where id = $1")
            .bind(principal.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("principal"));
        }
        let statement = match change {
            GrantChange::Put => {
                "insert into grants (principal_id, pattern, created_at) values ($1, $2, $3) on conflict do nothing"
            }
            GrantChange::Delete => "delete from grants where principal_id = $1 and pattern = $2",
        };
        sqlx::query(statement)
            .bind(principal.as_str())
            .bind(pattern.as_str())
            .bind(ms(Utc::now()))
            .execute(&mut *tx)
            .await?;
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_grants(&self, principal: &PrincipalId) -> Result<Vec<GrantPattern>, StoreError> {
        self.get_principal(principal).await?;
        let rows: Vec<String> =
            sqlx::query_scalar("select pattern from grants where principal_id = $1 order by pattern")
                .bind(principal.as_str())
                .fetch_all(&self.readers)
                .await?;
        Ok(rows.into_iter().map(GrantPattern::from_trusted).collect())
    }

    pub async fn ensure_bootstrap_admin(&self, key_id: &str, key_hash: &[u8]) -> Result<Bootstrapped, StoreError> {
        let mut tx = self.begin().await?;
        let outcome = bootstrap(&mut tx, key_id, key_hash).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn bootstrap_if_empty(&self, key_id: &str, key_hash: &[u8]) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let any: bool = sqlx::query_scalar("select exists(select 1 from principals)").fetch_one(&mut *tx).await?;
        if any {
            return Ok(false);
        }
        bootstrap(&mut tx, key_id, key_hash).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The bootstrap rules (see `Store::ensure_bootstrap_admin`), inside the caller's transaction.
async fn bootstrap(conn: &mut SqliteConnection, key_id: &str, key_hash: &[u8]) -> Result<Bootstrapped, StoreError> {
    let now = ms(Utc::now());
    let role: Option<String> =
        sqlx::query_scalar("select role from principals where id = 'admin'").fetch_optional(&mut *conn).await?;
    match role.as_deref() {
        None => {
            sqlx::query(
                "insert into principals (id, role, description, created_at)
                 values ('admin', 'admin', 'bootstrap administrator', $1)",
            )
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Some("admin") => {}
        Some(other) => return Err(StoreError::Bootstrap(crate::store::bootstrap_role_conflict(other))),
    }
    let existing: Option<(String, Option<i64>)> =
        sqlx::query_as("select principal_id, revoked_at from api_keys where key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&mut *conn)
            .await?;
    match existing {
        Some((owner, _)) if owner != "admin" => {
            Err(StoreError::Bootstrap(crate::store::bootstrap_key_conflict(&owner)))
        }
        Some((_, Some(_))) => Ok(Bootstrapped::Revoked),
        Some((_, None)) => Ok(Bootstrapped::Unchanged),
        None => {
            sqlx::query("insert into api_keys (id, principal_id, key_hash, created_at) values ($1, 'admin', $2, $3)")
                .bind(key_id)
                .bind(key_hash)
                .bind(now)
                .execute(&mut *conn)
                .await
                .on_conflict("api key")?;
            // The variable names one key: the keys it named before stop working.
            let revoked: Vec<String> = sqlx::query_scalar(
                "update api_keys set revoked_at = $2
                  where principal_id = 'admin' and substr(id, 1, 10) = 'bootstrap_' and id <> $1 and revoked_at is null
                  returning id",
            )
            .bind(key_id)
            .bind(now)
            .fetch_all(&mut *conn)
            .await?;
            let event = AuditEvent::success(
                None,
                "principal.bootstrap",
                serde_json::json!({"principal": "admin", "key_id": key_id, "revoked": revoked}),
            );
            audit::record(conn, &event).await?;
            Ok(Bootstrapped::Added { revoked })
        }
    }
}
