//! `/metrics` read the way Prometheus reads it: families from `# TYPE` lines, and samples as
//! name, labels and value.

use std::collections::{BTreeMap, BTreeSet};

use super::client::TestClient;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Family names with their type, from the `# TYPE` lines.
    pub fn families(&self) -> BTreeMap<String, String> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|rest| {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {rest}"));
                (name.to_owned(), kind.to_owned())
            })
            .collect()
    }

    /// Every sample name present (`x_bucket`, `x_sum`, `x_count` for a histogram `x`).
    pub fn sample_names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| s.name.clone()).collect()
    }

    /// Every series (name and labels, without the value).
    pub fn series(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| format!("{}{:?}", s.name, s.labels)).collect()
    }

    /// The value of the one series with `name` and at least `labels`; `None` if there is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect();
        assert!(matching.len() <= 1, "{name}{labels:?} matches several series: {matching:?}");
        matching.first().map(|s| s.value)
    }

    /// Sum over every series of `name` with at least `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }
}

pub async fn scrape(client: &TestClient) -> Scrape {
    let resp = client.anonymous().raw(reqwest::Method::GET, "/metrics").send().await;
    assert_eq!(resp.status, 200, "/metrics: {}", resp.body);
    let samples = resp.body.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(parse_sample).collect();
    Scrape { text: resp.body, samples }
}

fn parse_sample(line: &str) -> Sample {
    fn bad<T>(line: &str) -> T {
        panic!("not a Prometheus sample line: {line:?}")
    }
    let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| bad(line));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| bad(line)),
    };
    let Some((name, labels)) = series.split_once('{') else {
        return Sample { name: series.to_owned(), labels: BTreeMap::new(), value };
    };
    let labels = labels.strip_suffix('}').unwrap_or_else(|| bad(line));
    Sample { name: name.to_owned(), labels: parse_labels(labels).unwrap_or_else(|| bad(line)), value }
}

/// `a="x",b="y\"z"`: values are quoted, with `\\`, `\"` and `\n` escaped.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
    Some(labels)
}

/// Every `tokenbroker_…` name in `text` (a dashboard, a rules file, the README).
pub fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tokenbroker_") {
        let boundary = rest[..at].chars().next_back().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[at..];
        let len =
            tail.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(tail.len());
        if boundary {
            names.insert(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    names
}

#[test]
fn samples_and_labels_parse() {
    let s = parse_sample(r#"x_total{a="1",b="q\"u\\o\nte",c=""} 3"#);
    assert_eq!(s.name, "x_total");
    assert_eq!(s.labels["b"], "q\"u\\o\nte");
    assert_eq!(s.labels["c"], "");
    assert_eq!(s.value, 3.0);
    assert_eq!(parse_sample("up 1").labels.len(), 0);
    let names = names_in("sum(rate(tokenbroker_a_total[5m])) / x_tokenbroker_b + tokenbroker_c_bucket{le=\"1\"}");
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["tokenbroker_a_total", "tokenbroker_c_bucket"]);
}

/// The sum of every sample of `name` whose labels include all of `labels`; 0 when there is none
/// yet (a counter appears at its first increment).
pub async fn counter(client: &TestClient, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape(client).await.sum(name, labels)
}
