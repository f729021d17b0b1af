//! The audit trail, written inside the transaction of the change it records.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};

use super::{PgStore, StoreError};
use crate::domain::{AuditEvent, AuditFilter, AuditRecord};
use crate::ids::PrincipalId;

#[derive(FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    principal_id: Option<String>,
    action: String,
    connection_id: Option<String>,
    outcome: String,
    detail: Value,
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: r.at,
            principal_id: r.principal_id,
            action: r.action,
            connection_id: r.connection_id,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

pub(super) async fn record(conn: &mut PgConnection, event: &AuditEvent) -> Result<(), StoreError> {
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

impl PgStore {
    pub async fn record_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for event in events {
            record(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
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
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
