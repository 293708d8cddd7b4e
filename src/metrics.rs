//! Prometheus metrics: request counts and latencies by route, method and status, open
//! connections and requests cut off by the deadline.
//!
//! Every label value comes from a closed set, so no client can grow `/metrics`: the method is
//! one of the nine standard ones or `other`, the route a registered pattern or `unmatched`, the
//! status a standard code or `other`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The process's metric registry and the HTTP metrics in it.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Requests answered on every route but the operations ones: how [`crate::memory`] tells
    /// the server is idle (a load balancer's probes or a scraper do not keep it busy).
    served: Arc<AtomicU64>,
    memory_releases: IntCounter,
    connections_open: IntGauge,
    request_timeouts: IntCounterVec,
    connections_shed: IntCounter,
}

/// Where a request was when its deadline passed ([`Metrics::count_request_timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// The request head had not arrived.
    Head,
    /// The head had, the body had not.
    Body,
}

/// Routes that do not count as work ([`Metrics::served`]).
const OPERATIONS_ROUTES: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

impl Metrics {
    /// A fresh registry with the HTTP metrics registered.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("koolicense".into()), None)?;
        let labels = ["route", "method", "status"];
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &labels,
        )?;
        let memory_releases = IntCounter::new(
            "memory_releases_total",
            "Times the server gave memory back to the OS after going idle",
        )?;
        let connections_open =
            IntGauge::new("http_connections_open", "HTTP connections open right now")?;
        let request_timeouts = IntCounterVec::new(
            Opts::new(
                "http_request_timeouts_total",
                "Connections closed because a request did not arrive within \
                 KOOLICENSE_REQUEST_TIMEOUT_MS, by what was missing",
            ),
            &["phase"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(memory_releases.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(connections_open.clone()))?;
        let connections_shed = IntCounter::new(
            "http_connections_shed_total",
            "Connections closed to make room while the server was full: each had waited \
             longest on its client",
        )?;
        registry.register(Box::new(request_timeouts.clone()))?;
        registry.register(Box::new(connections_shed.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            served: Arc::new(AtomicU64::new(0)),
            memory_releases,
            connections_open,
            request_timeouts,
            connections_shed,
        })
    }

    /// The registry, for other modules' metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8_lossy(&buffer).into_owned()
    }

    /// Requests answered since start, operations endpoints left out.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Counts one release of memory after going idle.
    pub fn count_memory_release(&self) {
        self.memory_releases.inc();
    }

    /// The gauge of open connections, moved by [`crate::http_limits`].
    pub fn connections_open(&self) -> &IntGauge {
        &self.connections_open
    }

    /// Counts one connection closed by the request deadline.
    pub fn count_request_timeout(&self, phase: TimeoutPhase) {
        let phase = match phase {
            TimeoutPhase::Head => "head",
            TimeoutPhase::Body => "body",
        };
        self.request_timeouts.with_label_values(&[phase]).inc();
    }

    /// Counts one connection shed to make room.
    pub fn count_shed_connection(&self) {
        self.connections_shed.inc();
    }

    fn observe(&self, route: &str, method: &str, status: StatusCode, seconds: f64) {
        if !OPERATIONS_ROUTES.contains(&route) {
            self.served.fetch_add(1, Ordering::Relaxed);
        }
        let labels = [route, method, status_label(&status)];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }
}

/// The method as a label: a client may send any token as its method (`X00042Z`), and each
/// distinct label value would be a new series kept for the life of the process.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The status as a label: the standard codes (a bounded set), anything else `other`.
fn status_label(status: &StatusCode) -> &str {
    if status.canonical_reason().is_some() {
        status.as_str()
    } else {
        "other"
    }
}

/// Middleware recording every request. Routes are labelled by their registered pattern, never
/// the raw path (which would carry ids and explode the label set); every path that matches no
/// route is `unmatched`.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        metrics.observe(
            &route,
            method,
            response.status(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::http::{Method, StatusCode};

    use super::{method_label, status_label};

    #[test]
    fn methods_outside_the_standard_nine_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for token in ["X00042Z", "get", "BREW", "PROPFIND"] {
            let method = Method::from_bytes(token.as_bytes()).unwrap_or(Method::GET);
            assert_eq!(method_label(&method), "other", "{token}");
        }
    }

    #[test]
    fn nonstandard_statuses_share_one_label() {
        assert_eq!(status_label(&StatusCode::OK), "200");
        assert_eq!(status_label(&StatusCode::REQUEST_TIMEOUT), "408");
        let odd = StatusCode::from_u16(599).unwrap_or(StatusCode::OK);
        assert_eq!(status_label(&odd), "other");
    }
}
