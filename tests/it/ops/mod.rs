//! Operations endpoints (no key) and the routing fallbacks.

mod database_outage;
mod docs;
mod documented_inputs;
mod health;
mod metrics;
mod observability;
mod routing;
