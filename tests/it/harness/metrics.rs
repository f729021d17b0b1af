//! Reading one broker's `/metrics` (Prometheus text), to see what it did inside: how many
//! database checks it made, how many requests a limit refused.

use reqwest::Method;

use super::client::TestClient;

/// The sum of every sample of `name` whose labels include all of `labels` (`key="value"`);
/// 0 when there is none yet (a counter appears at its first increment).
pub async fn counter(client: &TestClient, name: &str, labels: &[(&str, &str)]) -> f64 {
    let resp = client.anonymous().raw(Method::GET, "/metrics").send().await;
    assert_eq!(resp.status, 200, "/metrics: {}", resp.body);
    resp.body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let wanted = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            wanted.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}
