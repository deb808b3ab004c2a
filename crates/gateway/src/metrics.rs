//! Prometheus metrics: request counts and latency by listener, route, method and status.
//!
//! Routes are templates (`/admin/v1/tenants/{id}`), never raw paths, so the number of series
//! stays bounded whatever clients send.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The labels of one request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// All metrics the gateway exports.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    /// Both series of each label set, found with one lookup per request instead of one per
    /// family. Counters and histograms are shared handles, so these are the exported series.
    series: RwLock<HashMap<RequestLabels, (Counter, Histogram)>>,
    connections: Gauge<i64, AtomicI64>,
    in_flight: Gauge<i64, AtomicI64>,
    tenants: Gauge<i64, AtomicI64>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("credless");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let connections = Gauge::default();
        let in_flight = Gauge::default();
        let tenants = Gauge::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response head",
            latency.clone(),
        );
        registry.register(
            "open_connections",
            "Connections being served",
            connections.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being answered",
            in_flight.clone(),
        );
        registry.register("tenants", "Tenants in the in-memory index", tenants.clone());
        Self {
            registry,
            requests,
            latency,
            series: RwLock::default(),
            connections,
            in_flight,
            tenants,
        }
    }

    /// Records one answered request.
    pub(crate) fn observe(
        &self,
        listener: &'static str,
        route: &'static str,
        method: &http::Method,
        status: http::StatusCode,
        elapsed: Duration,
    ) {
        let labels = RequestLabels {
            listener,
            route,
            method: method_label(method),
            status: status.as_u16(),
        };
        let seconds = elapsed.as_secs_f64();
        let known = self.series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((count, latency)) = known.get(&labels) {
            count.inc();
            latency.observe(seconds);
            return;
        }
        drop(known);
        // Routes, methods and statuses are bounded sets, so this map stays small.
        let count = self.requests.get_or_create(&labels).clone();
        let latency = self.latency.get_or_create(&labels).clone();
        count.inc();
        latency.observe(seconds);
        self.series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(labels, (count, latency));
    }

    /// Counts a connection as open until the guard is dropped.
    pub(crate) fn connection(&self) -> GaugeGuard {
        self.connections.inc();
        GaugeGuard(self.connections.clone())
    }

    /// Counts a request as in flight until the guard is dropped.
    pub(crate) fn request(&self) -> GaugeGuard {
        self.in_flight.inc();
        GaugeGuard(self.in_flight.clone())
    }

    /// Requests being answered right now.
    pub(crate) fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Sets the number of tenants served.
    pub(crate) fn set_tenants(&self, count: usize) {
        self.tenants.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Renders the Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements a gauge (open connections, requests in flight) when dropped.
pub(crate) struct GaugeGuard(Gauge<i64, AtomicI64>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Known methods by name; anything else as `other`, so clients cannot mint series.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
