//! Gauges read from the database when `/metrics` is scraped (the collector pattern).
//!
//! Why at scrape time rather than from a periodic task: the values are as fresh as the
//! scrape, nothing runs when nobody scrapes, and a scrape that cannot reach the database
//! says so (`tokenbroker_database_up 0`) instead of repeating an old snapshot as if current.
//! The read is one indexed scan of `connections` and is cut off after `DEADLINE`, so a slow
//! database cannot stall the scrape; the process-wide series are rendered either way.
//!
//! Every replica reports the same database-derived values: aggregate them with `max`, not
//! `sum`. The `connection` label is on per-connection gauges only; there is one series per
//! connection an admin created (two for a connection with a refresh token), so their
//! cardinality is the number of connections and nothing a caller sends.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::ConnectionStatus;
use crate::store::{ConnectionGauge, Store};

/// Longest a scrape waits for the database.
const DEADLINE: Duration = Duration::from_secs(1);

const STATUSES: [ConnectionStatus; 3] =
    [ConnectionStatus::Active, ConnectionStatus::Disabled, ConnectionStatus::NeedsReauth];

pub async fn render(store: &Store, rotate_window: Duration, out: &mut String) {
    let rows = match tokio::time::timeout(DEADLINE, store.connection_gauges()).await {
        Ok(Ok(rows)) => Some(rows),
        Ok(Err(err)) => {
            // Debug only: an outage is logged by whatever the outage breaks, not per scrape.
            tracing::debug!(error = %err, "metrics: could not read connections");
            None
        }
        Err(_) => {
            tracing::debug!("metrics: reading connections took longer than {DEADLINE:?}");
            None
        }
    };
    write(out, rows.as_deref(), rotate_window, Utc::now());
}

/// Writes the families; `rows` is `None` when the database did not answer in time.
fn write(out: &mut String, rows: Option<&[ConnectionGauge]>, rotate_window: Duration, now: DateTime<Utc>) {
    family(out, "tokenbroker_database_up", "1 if the database answered this scrape's query within 1 s, else 0.");
    let _ = writeln!(out, "tokenbroker_database_up {}", u8::from(rows.is_some()));
    family(
        out,
        "tokenbroker_refresh_token_rotate_window_seconds",
        "Refresh tokens ending within this are rotated ahead (TOKENBROKER_ROTATE_REFRESH_TOKENS_BEFORE_SECS).",
    );
    let _ = writeln!(out, "tokenbroker_refresh_token_rotate_window_seconds {}", rotate_window.as_secs());
    let Some(rows) = rows else { return };

    family(out, "tokenbroker_connections", "Connections by status.");
    for status in STATUSES {
        let count = rows.iter().filter(|r| r.status == status).count();
        let _ = writeln!(out, "tokenbroker_connections{{status=\"{}\"}} {count}", status.as_str());
    }

    family(out, "tokenbroker_connection_status", "1 for each connection, labelled with its current status.");
    for r in rows {
        let _ = writeln!(
            out,
            "tokenbroker_connection_status{{{},status=\"{}\"}} 1",
            connection_labels(r),
            r.status.as_str()
        );
    }

    let active: Vec<&ConnectionGauge> = rows.iter().filter(|r| r.status == ConnectionStatus::Active).collect();
    family(
        out,
        "tokenbroker_connection_consecutive_vendor_failures",
        "Failed vendor calls since the last success, for each active connection.",
    );
    for r in &active {
        let _ = writeln!(
            out,
            "tokenbroker_connection_consecutive_vendor_failures{{{}}} {}",
            connection_labels(r),
            r.failure_count
        );
    }

    family(
        out,
        "tokenbroker_connection_refresh_token_expiry_timestamp_seconds",
        "When the stored refresh token ends (Unix time), for each active connection whose vendor said.",
    );
    let window = chrono::Duration::from_std(rotate_window).unwrap_or(chrono::Duration::MAX);
    let mut due = 0;
    for r in &active {
        if let Some(at) = r.refresh_token_expires_at {
            let _ = writeln!(
                out,
                "tokenbroker_connection_refresh_token_expiry_timestamp_seconds{{{}}} {}",
                connection_labels(r),
                at.timestamp()
            );
            if now.checked_add_signed(window).is_none_or(|limit| at < limit) {
                due += 1;
            }
        }
    }
    family(
        out,
        "tokenbroker_refresh_tokens_due_for_rotation",
        "Active connections whose refresh token ends within the rotate window; it stays above 0 when rotation fails.",
    );
    let _ = writeln!(out, "tokenbroker_refresh_tokens_due_for_rotation {due}");
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn connection_labels(r: &ConnectionGauge) -> String {
    format!("connection=\"{}\",provider=\"{}\"", escape(&r.id), escape(&r.provider))
}

/// Label values escape backslash, quote and newline (the text format's only escapes).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: ConnectionStatus, failures: i32, ends_in_hours: Option<i64>) -> ConnectionGauge {
        ConnectionGauge {
            id: id.into(),
            provider: "qbench".into(),
            status,
            failure_count: failures,
            refresh_token_expires_at: ends_in_hours.map(|h| Utc::now() + chrono::Duration::hours(h)),
        }
    }

    #[test]
    fn database_down_reports_only_what_needs_no_database() {
        let mut out = String::new();
        write(&mut out, None, Duration::from_secs(86_400), Utc::now());
        assert!(out.contains("\ntokenbroker_database_up 0\n"), "{out}");
        assert!(out.contains("\ntokenbroker_refresh_token_rotate_window_seconds 86400\n"), "{out}");
        assert!(!out.contains("tokenbroker_connections"), "{out}");
    }

    #[test]
    fn per_connection_gauges_and_counts() {
        let rows = [
            row("a", ConnectionStatus::Active, 0, Some(24 * 6)),
            row("b", ConnectionStatus::Active, 3, Some(2)),
            row("c", ConnectionStatus::NeedsReauth, 1, Some(1)),
            row("d", ConnectionStatus::Disabled, 0, None),
        ];
        let mut out = String::new();
        write(&mut out, Some(&rows), Duration::from_secs(86_400), Utc::now());
        for line in [
            "tokenbroker_database_up 1",
            "tokenbroker_connections{status=\"active\"} 2",
            "tokenbroker_connections{status=\"disabled\"} 1",
            "tokenbroker_connections{status=\"needs_reauth\"} 1",
            "tokenbroker_connection_status{connection=\"c\",provider=\"qbench\",status=\"needs_reauth\"} 1",
            "tokenbroker_connection_consecutive_vendor_failures{connection=\"b\",provider=\"qbench\"} 3",
            // Only b's refresh token is active and within the day-long window.
            "tokenbroker_refresh_tokens_due_for_rotation 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
        }
        // Not active: no failure streak or refresh-token series (needs_reauth has its own alert).
        assert!(!out.contains("consecutive_vendor_failures{connection=\"c\""), "{out}");
        assert!(!out.contains("expiry_timestamp_seconds{connection=\"c\""), "{out}");
        let families = out.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(families, 7, "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
