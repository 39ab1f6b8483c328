//! Prometheus metrics: the process-wide recorder, the `/metrics` route, and a hoop
//! that times every request by method, matched route and status.

use std::time::Instant;

use super::ReadRoute as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use salvo::{Depot, FlowCtrl, Request, Response, Router, handler, http::HeaderValue};

/// Latency buckets, in seconds, from half a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The installed recorder; cloneable handle used by the `/metrics` route.
#[derive(Clone)]
pub struct MetricsRecorder(PrometheusHandle);

impl MetricsRecorder {
    /// Installs the global recorder. Call once per process.
    pub fn install() -> anyhow::Result<Self> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)?
            .install_recorder()?;
        Ok(Self(handle))
    }

    /// The current metrics in Prometheus text format.
    pub fn render(&self) -> String {
        self.0.render()
    }
}

#[handler]
async fn export(depot: &mut Depot, res: &mut Response) {
    let body = depot
        .get_typed::<MetricsRecorder>()
        .map(MetricsRecorder::render)
        .unwrap_or_default();
    res.headers_mut().insert(
        salvo::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    let _ = res.write_body(body);
}

/// `GET /metrics`.
pub fn metrics_router(recorder: MetricsRecorder) -> Router {
    Router::with_path("metrics")
        .hoop(salvo::affix_state::inject(recorder))
        .get_or_head(export)
}

/// Hoop recording `http_requests_total` and `http_request_duration_seconds`.
#[handler]
pub async fn record_request(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let started = Instant::now();
    ctrl.call_next(req, depot, res).await;

    let route = match req.matched_path() {
        "" => "unmatched".to_owned(),
        path => format!("/{}", path.trim_start_matches('/')),
    };
    let method = req.method().as_str().to_owned();
    let status = res
        .status_code
        .map(|status| status.as_u16())
        .unwrap_or(200)
        .to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
}
