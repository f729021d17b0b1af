//! Stored ciphertexts are bound to their row and field: moved or altered bytes fail closed
//! (500 `internal`), never decrypt into another connection's secret or token.

mod repointed_config;
mod secrets_tampering;
mod token_swap;

use sqlx::{AssertSqlSafe, PgPool};

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
pub async fn swap(pool: &PgPool, column: Column, a: &str, b: &str) {
    let col = column.name();
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE connections AS c SET {col} = o.{col} FROM connections AS o \
         WHERE c.id IN ($1, $2) AND o.id IN ($1, $2) AND o.id <> c.id \
         AND c.{col} IS NOT NULL AND o.{col} IS NOT NULL"
    )))
    .bind(a)
    .bind(b)
    .execute(pool)
    .await
    .unwrap_or_else(|e| panic!("swap connections.{col} (bytea) between {a} and {b}: {e}"));
    assert_eq!(done.rows_affected(), 2, "expected both {a} and {b} to hold a value in connections.{col}");
}

/// Flips the last bit of the last byte of `column` for connection `id`.
pub async fn flip_last_byte(pool: &PgPool, column: Column, id: &str) {
    let col = column.name();
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE connections SET {col} = \
         set_byte({col}, length({col}) - 1, get_byte({col}, length({col}) - 1) # 1) \
         WHERE id = $1 AND {col} IS NOT NULL"
    )))
    .bind(id)
    .execute(pool)
    .await
    .unwrap_or_else(|e| panic!("flip a byte of connections.{col} (bytea) for {id}: {e}"));
    assert_eq!(done.rows_affected(), 1, "connection {id} has no {col} to tamper with");
}
