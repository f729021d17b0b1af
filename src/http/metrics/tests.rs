//! Unit tests of `http::metrics`.

use super::*;

#[test]
fn standard_methods_keep_their_name_and_invented_ones_are_other() -> Result<(), axum::http::method::InvalidMethod> {
    for name in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"] {
        assert_eq!(method_label(&Method::from_bytes(name.as_bytes())?), name);
    }
    for invented in ["get", "PROPFIND", "BREW", &"X".repeat(20_000)] {
        assert_eq!(method_label(&Method::from_bytes(invented.as_bytes())?), "other", "{invented:.20}");
    }
    Ok(())
}
