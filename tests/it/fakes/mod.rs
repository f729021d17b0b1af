//! Fake vendors: small axum servers on loopback that check requests the way the real vendors
//! do, count calls, and misbehave on demand.

pub mod cubu;
pub mod oauth2;
pub mod qbench;
pub mod qflow;
pub mod qubs;
pub mod quiqup;
pub mod vendor;

pub use oauth2::{BodyFormat, ClientAuth, ExpiresIn, FakeOAuth2, OAuth2Options};
pub use qubs::FakeQubs;
pub use vendor::{Fault, TokenStyle};
