//! The listener: HTTPS with certificates made here (reloaded when the files change, client
//! certificates when a CA is set), the idle and header-read timeouts, the connection limit,
//! and keep-alive connections that survive being parked between requests.

mod keep_alive;
mod limit;
mod pki;
mod raw;
mod timeouts;
mod tls;
