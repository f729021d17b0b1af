//! Connections: an admin's CRUD, validation, and the guarantee that views hold no secret.

mod across_replicas;
mod crud;
mod insecure_urls;
mod limits;
mod patch;
mod secrets;
mod validation;

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::token_answer::parse_time;

/// The view's exact members (api.md), and `secrets` as a list of names.
pub fn assert_view_shape(view: &Value) {
    let members: BTreeSet<&str> = view
        .as_object()
        .unwrap_or_else(|| panic!("a connection view is an object: {view}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        members,
        BTreeSet::from([
            "id",
            "provider",
            "description",
            "config",
            "secrets",
            "status",
            "endpoints",
            "token",
            "last_error",
            "created_at",
            "updated_at",
        ]),
        "connection view members: {view}"
    );
    assert!(view["config"].is_object(), "{view}");
    assert!(
        view["secrets"].as_array().is_some_and(|names| names.iter().all(Value::is_string)),
        "`secrets` in a view is a list of names: {view}"
    );
    parse_time(&view["created_at"]);
    parse_time(&view["updated_at"]);
}

/// `secrets` as a set of names.
pub fn secret_names(view: &Value) -> BTreeSet<String> {
    view["secrets"]
        .as_array()
        .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A view with its timestamps taken out, for comparing two reads of the same state.
pub fn without_timestamps(view: &Value) -> Value {
    let mut v = view.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("created_at");
        obj.remove("updated_at");
    }
    v
}

/// Two renderings of one instant (one may come from memory, one from the database).
pub fn same_instant(a: &Value, b: &Value) -> bool {
    (parse_time(a) - parse_time(b)).num_milliseconds().abs() < 1
}
