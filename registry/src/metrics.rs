//! Request counters and latency sums in Prometheus' text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default, Clone, Copy)]
struct Series {
    count: u64,
    seconds: f64,
}

/// Requests seen, by method, endpoint and status.
#[derive(Default)]
pub struct Metrics(Mutex<BTreeMap<(String, &'static str, u16), Series>>);

impl Metrics {
    /// Counts one request that took `secs`.
    pub fn observe(&self, method: &str, route: &'static str, status: u16, secs: f64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((method.to_owned(), route, status)).or_default();
        s.count += 1;
        s.seconds += secs;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::new();
        out.push_str("# HELP dm_registry_requests_total HTTP requests served.\n");
        out.push_str("# TYPE dm_registry_requests_total counter\n");
        for ((method, route, status), s) in &m {
            let _ = writeln!(
                out,
                "dm_registry_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP dm_registry_request_seconds_total Time spent serving requests.\n");
        out.push_str("# TYPE dm_registry_request_seconds_total counter\n");
        for ((method, route, status), s) in &m {
            let _ = writeln!(
                out,
                "dm_registry_request_seconds_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.seconds
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_prometheus_text() {
        let m = Metrics::default();
        m.observe("GET", "blob", 200, 0.5);
        m.observe("GET", "blob", 200, 0.25);
        let t = m.render();
        assert!(
            t.contains(
                "dm_registry_requests_total{method=\"GET\",route=\"blob\",status=\"200\"} 2\n"
            ),
            "{t}"
        );
        assert!(t.contains("status=\"200\"} 0.75\n"), "{t}");
    }
}
