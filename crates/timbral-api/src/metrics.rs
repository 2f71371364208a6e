//! Request counters and a latency histogram in Prometheus' text format.
//! Per isolate: each Workers isolate counts what it served. Latency comes
//! from the runtime's clock, which on Workers advances only across I/O, so
//! it measures time spent waiting (the bundle fetch, the encoder service)
//! more than CPU time.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    errors: BTreeMap<&'static str, u64>,
    bundle_load_seconds: Option<f64>,
    bundle_items: usize,
}

impl Metrics {
    /// Counts one request. Server errors (5xx) are also counted as errors.
    pub fn record(&mut self, route: &'static str, status: u16, seconds: f64) {
        *self.requests.entry((route, status)).or_default() += 1;
        let h = self.latency.entry(route).or_default();
        for (c, &le) in h.counts.iter_mut().zip(&BUCKETS) {
            if seconds <= le {
                *c += 1;
            }
        }
        h.count += 1;
        h.sum += seconds.max(0.0);
        if status >= 500 {
            *self.errors.entry(route).or_default() += 1;
        }
    }

    pub fn bundle_loaded(&mut self, seconds: f64, items: usize) {
        self.bundle_load_seconds = Some(seconds);
        self.bundle_items = items;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP timbral_requests_total Requests served, by route and status."
        );
        let _ = writeln!(w, "# TYPE timbral_requests_total counter");
        for ((route, status), n) in &self.requests {
            let _ = writeln!(
                w,
                "timbral_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            w,
            "# HELP timbral_request_duration_seconds Request latency, by route."
        );
        let _ = writeln!(w, "# TYPE timbral_request_duration_seconds histogram");
        for (route, h) in &self.latency {
            for (c, le) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    w,
                    "timbral_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {c}"
                );
            }
            let _ = writeln!(
                w,
                "timbral_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                w,
                "timbral_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                w,
                "timbral_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            w,
            "# HELP timbral_errors_total Requests that ended in a server error (5xx), by route."
        );
        let _ = writeln!(w, "# TYPE timbral_errors_total counter");
        for (route, n) in &self.errors {
            let _ = writeln!(w, "timbral_errors_total{{route=\"{route}\"}} {n}");
        }
        let _ = writeln!(w, "# HELP timbral_bundle_items Items in the loaded bundle.");
        let _ = writeln!(w, "# TYPE timbral_bundle_items gauge");
        let _ = writeln!(w, "timbral_bundle_items {}", self.bundle_items);
        if let Some(s) = self.bundle_load_seconds {
            let _ = writeln!(w, "# HELP timbral_bundle_load_seconds Time to fetch and check the bundle in this isolate.");
            let _ = writeln!(w, "# TYPE timbral_bundle_load_seconds gauge");
            let _ = writeln!(w, "timbral_bundle_load_seconds {s}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_status_with_cumulative_buckets() {
        let mut m = Metrics::default();
        m.record("/recs", 200, 0.003);
        m.record("/recs", 200, 0.03);
        m.record("/recs", 400, 0.0);
        m.record("/search", 503, 2.0);
        let text = m.render();
        assert!(text.contains("timbral_requests_total{route=\"/recs\",status=\"200\"} 2"));
        assert!(text.contains("timbral_requests_total{route=\"/recs\",status=\"400\"} 1"));
        assert!(text
            .contains("timbral_request_duration_seconds_bucket{route=\"/recs\",le=\"0.001\"} 1"));
        assert!(text
            .contains("timbral_request_duration_seconds_bucket{route=\"/recs\",le=\"0.005\"} 2"));
        assert!(
            text.contains("timbral_request_duration_seconds_bucket{route=\"/recs\",le=\"+Inf\"} 3")
        );
        assert!(text.contains("timbral_request_duration_seconds_count{route=\"/recs\"} 3"));
        assert!(text.contains("timbral_errors_total{route=\"/search\"} 1"));
        assert!(!text.contains("timbral_errors_total{route=\"/recs\"}"));
    }
}
