//! The handles of the per-request series, kept so that a request does not pay for a registry
//! look-up. `metrics::counter!(…, labels)` builds the series' full key (an owned copy of every
//! label) and compares it with the registry's on every call: about a tenth of an empty
//! answer's instructions (`bench/instructions.sh`). Here a request costs one hash of its route.

use foldhash::HashMap;
use std::sync::RwLock;

use metrics::{Counter, Histogram};

/// One route's series, by method and status. Bounded: routes are the router's templates (or
/// `unmatched`), methods one of ten labels, statuses three digits.
type ByRoute = HashMap<(&'static str, u16), Series>;

struct Series {
    requests: Counter,
    duration: Histogram,
}

impl Series {
    fn record(&self, seconds: f64) {
        self.requests.increment(1);
        self.duration.record(seconds);
    }
}

#[derive(Default)]
pub struct RequestSeries {
    routes: RwLock<HashMap<String, ByRoute>>,
}

impl RequestSeries {
    /// Counts one answered request and its duration; the label set's handles are registered
    /// with the process's recorder on its first request.
    pub fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        if let Some(series) = routes.get(route).and_then(|by| by.get(&(method, status))) {
            series.record(seconds);
            return;
        }
        drop(routes);
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes
            .entry(route.to_owned())
            .or_default()
            .entry((method, status))
            .or_insert_with(|| register(method, route, status))
            .record(seconds);
    }
}

fn register(method: &'static str, route: &str, status: u16) -> Series {
    let route = route.to_owned();
    Series {
        requests: metrics::counter!("tokenbroker_http_requests_total",
            "method" => method, "route" => route.clone(), "status" => status.to_string()),
        duration: metrics::histogram!("tokenbroker_http_request_duration_seconds", "method" => method, "route" => route),
    }
}
