//! The Grafana dashboard and the Prometheus alerts in deploy/ read only metrics that a running
//! broker exports: a renamed metric breaks this test, not an operator's alert at night.

use super::metrics::{busy_broker, repo_file};
use crate::harness::metrics::names_in;

const FILES: &[&str] = &["deploy/grafana/tokenbroker.json", "deploy/prometheus/alerts.yaml"];

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    let busy = busy_broker().await;
    let exported = busy.scrape.sample_names();
    for file in FILES {
        let used = names_in(&repo_file(file));
        assert!(used.len() >= 5, "{file} uses only {used:?}; is it the right file?");
        let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(missing.is_empty(), "{file} uses {missing:?}, which a running broker does not export:\n{exported:#?}");
    }
}
