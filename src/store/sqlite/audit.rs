//! The audit trail, written inside the transaction of the change it records.

use serde_json::Value;
use sqlx::{FromRow, SqliteConnection};

use super::{SqliteStore, StoreError, ms, time};
use crate::domain::{AuditEvent, AuditFilter, AuditRecord};
use crate::ids::PrincipalId;

#[derive(FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: i64,
    principal_id: Option<String>,
    action: String,
    connection_id: Option<String>,
    outcome: String,
    detail: String,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            at: time("audit_events", "at", r.at)?,
            principal_id: r.principal_id,
            action: r.action,
            connection_id: r.connection_id,
            outcome: r.outcome,
            detail: serde_json::from_str::<Value>(&r.detail)
                .map_err(|e| StoreError::invalid("audit_events", "detail", e))?,
        })
    }
}

pub(super) async fn record(conn: &mut SqliteConnection, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "insert into audit_events (at, principal_id, action, connection_id, outcome, detail)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ms(chrono::Utc::now()))
    .bind(event.actor.as_ref().map(PrincipalId::as_str))
    .bind(event.action)
    .bind(event.connection_id.as_deref())
    .bind(event.outcome)
    .bind(event.detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

impl SqliteStore {
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
              where ($1 is null or connection_id = $1)
                and ($2 is null or principal_id = $2)
                and ($3 is null or action = $3)
                and ($4 is null or id < $4)
              order by id desc
              limit $5",
        )
        .bind(filter.connection_id.as_deref())
        .bind(filter.principal_id.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.before_id)
        .bind(filter.limit)
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
