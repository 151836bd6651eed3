//! The service's Prometheus metrics (calls by plugin and status, run
//! latency, runs in flight, plugins loaded), and the HTTP endpoint that
//! serves them in the OpenMetrics text format.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::Code;

/// The label of a call that named no plugin the service knows. Unknown
/// names share it, so that a client cannot grow the label set without bound.
pub const UNKNOWN_PLUGIN: &str = "";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Every metric the service keeps, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    duration: Family<PluginLabel, Histogram>,
    in_flight: Gauge,
    plugins: Family<StateLabel, Gauge>,
}

fn duration_histogram() -> Histogram {
    // 100 µs to about 52 s, doubling: a fresh-instance run of a small plugin
    // takes tens of microseconds, a slow query tens of seconds.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("databook");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "grpc_calls",
            "Get calls answered, by plugin and gRPC status code",
            calls.clone(),
        );
        let duration =
            Family::<PluginLabel, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        registry.register(
            "run_duration_seconds",
            "Time from receiving a Get call to its answer, for calls that reached a plugin",
            duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "runs_in_flight",
            "Get calls being run (or waiting for a free instance) now",
            in_flight.clone(),
        );
        let plugins = Family::<StateLabel, Gauge>::default();
        registry.register(
            "plugins",
            "Plugins found at start, by whether they loaded",
            plugins.clone(),
        );
        Metrics {
            registry,
            calls,
            duration,
            in_flight,
            plugins,
        }
    }

    /// Records how many plugins loaded and how many failed to.
    pub fn set_plugins(&self, loaded: usize, failed: usize) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.plugins
            .get_or_create(&StateLabel { state: "loaded" })
            .set(count(loaded));
        self.plugins
            .get_or_create(&StateLabel { state: "failed" })
            .set(count(failed));
    }

    /// Counts a call that ended before any plugin ran.
    pub fn refused(&self, plugin: &str, code: Code) {
        self.calls
            .get_or_create(&CallLabels {
                plugin: plugin.to_string(),
                code: code_name(code),
            })
            .inc();
    }

    /// Starts a run of `plugin`: it counts as in flight until the returned
    /// guard is finished or dropped.
    pub fn start(self: &Arc<Self>, plugin: &str) -> RunGuard {
        self.in_flight.inc();
        RunGuard {
            metrics: self.clone(),
            plugin: plugin.to_string(),
            started: Instant::now(),
            code: None,
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// A run in flight. Dropped without being finished (the client went away
/// or its deadline passed, and the run was cancelled) it is counted as
/// CANCELLED.
pub struct RunGuard {
    metrics: Arc<Metrics>,
    plugin: String,
    started: Instant,
    code: Option<Code>,
}

impl RunGuard {
    /// Ends the run with `code`.
    pub fn finish(mut self, code: Code) {
        self.code = Some(code);
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let metrics = &self.metrics;
        metrics.in_flight.dec();
        let plugin = std::mem::take(&mut self.plugin);
        metrics
            .duration
            .get_or_create(&PluginLabel {
                plugin: plugin.clone(),
            })
            .observe(self.started.elapsed().as_secs_f64());
        metrics
            .calls
            .get_or_create(&CallLabels {
                plugin,
                code: code_name(self.code.unwrap_or(Code::Cancelled)),
            })
            .inc();
    }
}

/// A status code's canonical name, as gRPC's documentation and other
/// implementations' metrics spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The metrics endpoint: `GET /metrics`; anything else is not found.
pub fn router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            match metrics.encode() {
                Ok(text) => (
                    StatusCode::OK,
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    text,
                )
                    .into_response(),
                Err(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot encode the metrics",
                )
                    .into_response(),
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_run_counts_as_cancelled_and_leaves_flight() {
        let metrics = Arc::new(Metrics::new());
        let finished = metrics.start("echo");
        let dropped = metrics.start("echo");
        assert_eq!(metrics.in_flight.get(), 2);
        finished.finish(Code::Ok);
        drop(dropped);
        metrics.refused(UNKNOWN_PLUGIN, Code::NotFound);
        assert_eq!(metrics.in_flight.get(), 0);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("databook_grpc_calls_total{plugin=\"echo\",code=\"OK\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("databook_grpc_calls_total{plugin=\"echo\",code=\"CANCELLED\"} 1\n"));
        assert!(text.contains("databook_grpc_calls_total{plugin=\"\",code=\"NOT_FOUND\"} 1\n"));
        assert!(text.contains("databook_run_duration_seconds_count{plugin=\"echo\"} 2\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
