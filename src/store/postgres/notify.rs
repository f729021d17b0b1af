//! Change notifications from the database (see migrations/postgres/0003), without exposing sqlx.

use sqlx::postgres::PgListener;

use super::PgStore;
use crate::store::{Change, StoreError};

const CHANNEL: &str = "tokenbroker";

pub struct PgSubscription {
    listener: PgListener,
}

impl PgStore {
    pub async fn subscribe(&self) -> Result<PgSubscription, StoreError> {
        let mut listener = PgListener::connect_with(&self.side).await?;
        listener.listen(CHANNEL).await?;
        Ok(PgSubscription { listener })
    }
}

impl PgSubscription {
    /// The next change. After the database connection drops, the listener reconnects and
    /// this answers `Resync`, since notifications sent meanwhile are lost.
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        loop {
            match self.listener.try_recv().await? {
                None => return Ok(Change::Resync),
                Some(notification) => {
                    if let Some(change) = parse(notification.payload()) {
                        return Ok(change);
                    }
                }
            }
        }
    }
}

fn parse(payload: &str) -> Option<Change> {
    if payload == "auth" {
        return Some(Change::Auth);
    }
    let rest = payload.strip_prefix("connection:")?;
    let (id, generation) = rest.rsplit_once(':')?;
    let generation: i64 = generation.parse().ok()?;
    Some(Change::Connection { id: id.to_owned(), generation: (generation >= 0).then_some(generation) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_payloads() {
        assert_eq!(parse("auth"), Some(Change::Auth));
        assert_eq!(
            parse("connection:qbench-prod:7"),
            Some(Change::Connection { id: "qbench-prod".into(), generation: Some(7) })
        );
        assert_eq!(parse("connection:a.b:-1"), Some(Change::Connection { id: "a.b".into(), generation: None }));
        assert_eq!(parse("connection:x"), None);
        assert_eq!(parse("other"), None);
    }
}
