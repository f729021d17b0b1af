//! Every admin change leaves an audit event; the log filters and pages as documented.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::app_with_qubs;
use crate::harness::token_answer::parse_time;

fn actions(events: &[Value]) -> BTreeSet<String> {
    events.iter().filter_map(|e| e["action"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn admin_changes_are_recorded_and_filterable() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    let admin = &app.admin;
    admin.create_principal("billing", "service").await;
    let key = admin.create_key_view("billing", None).await;
    admin.put_grant("billing", "qubs-*").await;
    admin.delete_grant("billing", "qubs-*").await;
    admin.revoke_key("billing", key["key_id"].as_str().expect("key_id")).await;
    admin.patch_connection("qubs-main", &json!({"description": "changed"})).await;
    admin.put_secrets("qubs-main", &json!({"client_secret": "rotated-secret-value"})).await;
    admin.refresh_resp("qubs-main", None).await;
    admin.delete("/v1/principals/billing", 204).await;
    admin.delete("/v1/connections/qubs-main", 204).await;

    let events = admin.audit_events(&[]).await;
    for event in &events {
        for member in ["id", "at", "principal_id", "action", "connection_id", "outcome", "detail"] {
            assert!(event.get(member).is_some(), "event lacks {member}: {event}");
        }
        parse_time(&event["at"]);
    }
    let recorded = actions(&events);
    for action in [
        "principal.create",
        "principal.delete",
        "key.create",
        "key.revoke",
        "grant.put",
        "grant.delete",
        "connection.create",
        "connection.update",
        "connection.secrets.replace",
        "connection.delete",
        "connection.refresh",
    ] {
        assert!(recorded.contains(action), "no {action} event; have {recorded:?}");
    }
    let ids: BTreeSet<String> = events.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids.len(), events.len(), "event ids must be unique");

    let creates = admin.audit_events(&[("action", "connection.create")]).await;
    assert!(!creates.is_empty());
    assert!(
        creates.iter().all(|e| e["action"] == "connection.create"
            && e["connection_id"] == "qubs-main"
            && e["principal_id"] == "admin"),
        "{creates:?}"
    );
    let for_connection = admin.audit_events(&[("connection_id", "qubs-main")]).await;
    assert!(for_connection.iter().all(|e| e["connection_id"] == "qubs-main"), "{for_connection:?}");
    assert!(actions(&for_connection).contains("connection.delete"));
}

#[tokio::test]
async fn pages_follow_next_cursor_without_gaps_or_repeats() {
    let (app, _qubs) = app_with_qubs("qubs-main").await;
    for i in 0..7 {
        app.admin.create_principal(&format!("svc-{i}"), "service").await;
    }
    let all = app.admin.audit_events(&[]).await;
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "3".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let qs = serde_urlencoded::to_string(&query).expect("query");
        let page = app.admin.get(&format!("/v1/audit?{qs}"), 200).await;
        let events = page["events"].as_array().expect("events").clone();
        assert!(events.len() <= 3, "limit=3 gave {}", events.len());
        paged.extend(events.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) if !events.is_empty() => cursor = Some(next.to_owned()),
            _ => break,
        }
        assert!(paged.len() <= all.len(), "pagination repeats events");
    }
    let ids = |events: &[Value]| -> Vec<Value> { events.iter().map(|e| e["id"].clone()).collect() };
    assert_eq!(ids(&paged), ids(&all), "paging with limit=3 differs from paging with 50");
    assert!(all.len() >= 8, "{} events for 8 admin changes", all.len());
}
