//! What the broker is about, in types that know nothing of storage or HTTP: connections and
//! their token facts, principals with their keys and grants, and audit events. The store reads
//! and writes these; the API shows them; neither defines them.

mod audit;
mod connection;
mod principal;

pub use audit::{AuditEvent, AuditFilter, AuditRecord};
pub use connection::{
    ConnectionChange, ConnectionRecord, ConnectionStatus, LastError, NewConnection, REFRESH_TOKEN, RecordedFailure,
    TokenMeta,
};
pub use principal::{Authenticated, GrantChange, KeyRecord, NewKey, PrincipalRecord, Role};

/// A stored value this version of the broker cannot interpret (a status or role it does not know).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}
