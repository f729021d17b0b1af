//! Resilience (issue 4): single-use refresh tokens under churn, crashes and shutdown across
//! replicas, a row lock that cannot wedge, vendor faults with backoff, a database outage under
//! load, and changes reaching loaded replicas. Each test runs real broker processes against
//! a fake vendor whose refresh tokens are single-use, so a reuse is seen, not assumed.

mod backoff_schedule;
mod caller_gone;
mod churn;
mod crash;
mod fault_backoff;
mod foreign_lock;
pub mod load;
mod outage_under_load;
mod partition;
mod replica_changes;
mod rotating_vendor;
mod setup;
mod shutdown;

use crate::harness::client::Resp;

/// `Retry-After` in whole seconds; the answer must carry one.
pub fn retry_after_secs(resp: &Resp) -> u64 {
    crate::vendor_errors::retry_after(resp).as_secs()
}
