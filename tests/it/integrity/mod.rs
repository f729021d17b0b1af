//! Stored ciphertexts are bound to their row and field: moved or altered bytes fail closed
//! (500 `internal`), never decrypt into another connection's secret or token.

mod repointed_config;
mod secrets_tampering;
mod token_swap;

use sqlx::AssertSqlSafe;

use crate::harness::db::DbHandle;

/// The encrypted columns of `connections` that the tests tamper with.
#[derive(Clone, Copy)]
pub enum Column {
    Secrets,
    Token,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Secrets => "secrets",
            Column::Token => "token",
        }
    }
}

/// Exchanges `column` between connections `a` and `b`, as an attacker with database write
/// access (or a botched manual fix) would.
pub async fn swap(db: &DbHandle, column: Column, a: &str, b: &str) {
    let (value_a, value_b) = (read(db, column, a).await, read(db, column, b).await);
    write(db, column, a, &value_b).await;
    write(db, column, b, &value_a).await;
}

/// Flips the last bit of the last byte of `column` for connection `id`.
pub async fn flip_last_byte(db: &DbHandle, column: Column, id: &str) {
    let mut bytes = read(db, column, id).await;
    *bytes.last_mut().expect("a sealed value is never empty") ^= 1;
    write(db, column, id, &bytes).await;
}

async fn read(db: &DbHandle, column: Column, id: &str) -> Vec<u8> {
    let col = column.name();
    let sql = format!("SELECT {col} FROM connections WHERE id = $1");
    let value: Option<Vec<u8>> = match db {
        DbHandle::Postgres(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).bind(id).fetch_one(pool).await,
        DbHandle::Sqlite(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).bind(id).fetch_one(pool).await,
    }
    .unwrap_or_else(|e| panic!("read connections.{col} of {id}: {e}"));
    value.unwrap_or_else(|| panic!("connection {id} has no {col} to tamper with"))
}

async fn write(db: &DbHandle, column: Column, id: &str, bytes: &[u8]) {
    let col = column.name();
    let sql = format!("UPDATE connections SET {col} = $2 WHERE id = $1");
    let done = match db {
        DbHandle::Postgres(pool) => {
            sqlx::query(AssertSqlSafe(sql)).bind(id).bind(bytes).execute(pool).await.map(|r| r.rows_affected())
        }
        DbHandle::Sqlite(pool) => {
            sqlx::query(AssertSqlSafe(sql)).bind(id).bind(bytes).execute(pool).await.map(|r| r.rows_affected())
        }
    }
    .unwrap_or_else(|e| panic!("write connections.{col} of {id}: {e}"));
    assert_eq!(done, 1, "connection {id} not found");
}
