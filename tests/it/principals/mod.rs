//! Principals, their API keys and grants, managed by an admin.

mod grants;
mod keys;
mod lifecycle;
