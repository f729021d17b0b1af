//! The audit trail: written inside the transaction of the change it records.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};

use super::{Store, StoreError};
use crate::ids::PrincipalId;

/// One admin change, about to be recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor: Option<PrincipalId>,
    pub action: &'static str,
    pub connection_id: Option<String>,
    pub outcome: &'static str,
    /// Non-secret facts about the change (ids, changed field names), never values of secrets.
    pub detail: Value,
}

impl AuditEvent {
    pub fn success(actor: Option<&PrincipalId>, action: &'static str, detail: Value) -> Self {
        Self { actor: actor.cloned(), action, connection_id: None, outcome: "success", detail }
    }

    pub fn on_connection(mut self, id: &str) -> Self {
        self.connection_id = Some(id.to_owned());
        self
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub principal_id: Option<String>,
    pub action: String,
    pub connection_id: Option<String>,
    pub outcome: String,
    pub detail: Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub connection_id: Option<String>,
    pub principal_id: Option<String>,
    pub action: Option<String>,
    /// Only events older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub(crate) async fn record(conn: &mut PgConnection, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "insert into audit_events (principal_id, action, connection_id, outcome, detail)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(event.actor.as_ref().map(PrincipalId::as_str))
    .bind(event.action)
    .bind(event.connection_id.as_deref())
    .bind(event.outcome)
    .bind(&event.detail)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Records an event that goes with no other write (a forced refresh).
    pub async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.record_audit_batch(std::slice::from_ref(event)).await
    }

    /// Records several events in one transaction (aggregated token hand-outs).
    pub async fn record_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for event in events {
            record(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Newest first; `limit` rows at most.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as::<_, AuditRecord>(
            "select id, at, principal_id, action, connection_id, outcome, detail
               from audit_events
              where ($1::text is null or connection_id = $1)
                and ($2::text is null or principal_id = $2)
                and ($3::text is null or action = $3)
                and ($4::bigint is null or id < $4)
              order by id desc
              limit $5",
        )
        .bind(filter.connection_id.as_deref())
        .bind(filter.principal_id.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.before_id)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
