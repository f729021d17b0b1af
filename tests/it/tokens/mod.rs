//! Token hand-out: the answer's shape, caching, expiry, `min_ttl`, and refresh on rejection.

mod caching;
mod min_ttl;
mod oauth2;
mod qubs;
mod refresh;
mod vendor_quirks;
