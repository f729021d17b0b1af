//! What `/metrics` reports about connections: one small row per connection, no secrets.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::connections::ConnectionStatus;
use super::{Store, StoreError};

/// One connection's plain facts, for the per-connection gauges.
#[derive(Debug, Clone)]
pub struct ConnectionGauge {
    pub id: String,
    pub provider: String,
    pub status: ConnectionStatus,
    /// Consecutive failed vendor calls (0 after a success or new secrets).
    pub failure_count: i32,
    /// When the stored refresh token ends, if there is one and the vendor said.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct Row {
    id: String,
    provider: String,
    status: String,
    failure_count: i32,
    refresh_token_expires_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Every connection's status, failure streak and refresh-token end, sorted by id.
    pub async fn connection_gauges(&self) -> Result<Vec<ConnectionGauge>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "select id, provider, status, failure_count,
                    case when has_refresh_token then refresh_token_expires_at end as refresh_token_expires_at
               from connections order by id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ConnectionGauge {
                    status: ConnectionStatus::from_db(&r.status)?,
                    id: r.id,
                    provider: r.provider,
                    failure_count: r.failure_count,
                    refresh_token_expires_at: r.refresh_token_expires_at,
                })
            })
            .collect()
    }
}
