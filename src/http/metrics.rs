//! `GET /metrics` in Prometheus text format, the per-request counters and
//! latency histograms behind it, and the request id each request's span
//! and answer carry.
//!
//! Counters and histograms are recorded where they happen (the `metrics`
//! facade); the gauges that describe state (graph size, ledger sequence,
//! snapshot age, pool) are read when the page is asked for, so they cost
//! nothing between scrapes.

use super::AppState;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower_http::request_id::{MakeRequestId, RequestId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const REQUESTS: &str = "kinship_http_requests_total";
pub const DURATION: &str = "kinship_http_request_duration_seconds";
pub const BATCH_LINES: &str = "kinship_batch_lines_total";

/// Latency buckets, in seconds: from a check answered from memory (tens of
/// microseconds) to a batch of a million lines.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide recorder. The `metrics` facade has one global
/// recorder, so every router in a process (tests build many) shares it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), BUCKETS)
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then this
        // page shows the gauges alone.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; request metrics are not shown");
        }
        metrics::describe_counter!(
            REQUESTS,
            "HTTP requests answered, by route, method and status"
        );
        metrics::describe_histogram!(
            DURATION,
            metrics::Unit::Seconds,
            "time from a request's arrival to its answer's head, by route, method and status"
        );
        metrics::describe_counter!(BATCH_LINES, "NDJSON batch lines received, by route");
        handle
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_metrics))
}

/// Metrics
///
/// Prometheus text format: requests and latency per route and status,
/// batch lines, graph size, ledger sequence applied, snapshot age and the
/// database pool. Answers before the graph is ready too (`kinship_ready`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4; answered before the graph is ready too",
        body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"))
)]
async fn get_metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("kinship_ready").set(if state.registry().is_some() { 1.0 } else { 0.0 });
    if let Some(reg) = state.registry() {
        let (persons, links) = {
            let g = reg.graph();
            (g.person_count(), g.link_count())
        };
        metrics::gauge!("kinship_graph_persons").set(persons as f64);
        metrics::gauge!("kinship_graph_links").set(links as f64);
        metrics::gauge!("kinship_ledger_seq_applied").set(reg.applied_seq() as f64);
        metrics::gauge!("kinship_snapshot_seq").set(reg.snapshot_seq() as f64);
        if let Some(t) = reg.snapshot_time() {
            let age = t.elapsed().map_or(0.0, |d| d.as_secs_f64());
            metrics::gauge!("kinship_snapshot_age_seconds").set(age);
        }
        let (size, idle) = reg.ledger().pool_state();
        metrics::gauge!("kinship_db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("kinship_db_pool_connections", "state" => "in_use")
            .set(size.saturating_sub(idle as u32) as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle().render(),
    )
        .into_response()
}

/// The route that matched, for its label (`unmatched` for the fallback).
pub fn route_of<B>(req: &axum::http::Request<B>) -> Option<MatchedPath> {
    req.extensions().get::<MatchedPath>().cloned()
}

/// The counter and histogram of one (route, method, status).
type Handles = (metrics::Counter, metrics::Histogram);
type HandleMap =
    hashbrown::HashMap<(String, &'static str, u16), Handles, foldhash::fast::RandomState>;

/// Looks a (route, method, status) up without building its key.
#[derive(Hash)]
struct KeyRef<'a>(&'a str, &'static str, u16);

impl hashbrown::Equivalent<(String, &'static str, u16)> for KeyRef<'_> {
    fn equivalent(&self, k: &(String, &'static str, u16)) -> bool {
        self.0 == k.0 && self.1 == k.1 && self.2 == k.2
    }
}

/// Counts one answer and its time, by route, method and status. The
/// handles are kept per label set: building the labels and looking them
/// up in the recorder on every request cost ~2% of a single check.
pub fn record(
    route: Option<&MatchedPath>,
    method: &'static str,
    status: StatusCode,
    took: Duration,
) {
    static HANDLES: OnceLock<parking_lot::RwLock<HandleMap>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let route = route.map_or("unmatched", |r| r.as_str());
    let key = KeyRef(route, method, status.as_u16());
    let seconds = took.as_secs_f64();
    if let Some((c, h)) = handles.read().get(&key) {
        c.increment(1);
        h.record(seconds);
        return;
    }
    let labels = [
        ("route", route.to_owned()),
        ("method", method.into()),
        ("status", status.as_str().to_owned()),
    ];
    let (c, h) = (
        metrics::counter!(REQUESTS, &labels),
        metrics::histogram!(DURATION, &labels),
    );
    c.increment(1);
    h.record(seconds);
    handles
        .write()
        .insert((route.to_owned(), method, status.as_u16()), (c, h));
}

/// Methods outside the standard set are one label, so a client cannot
/// grow the label space.
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Request ids: a per-process prefix (start time) and a counter — unique,
/// ordered, and no random-number syscall per request. A caller's own
/// `x-request-id` is kept.
#[derive(Clone)]
pub struct RequestIds {
    prefix: u32,
    next: std::sync::Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> RequestIds {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        RequestIds {
            prefix: (now.as_secs() as u32) ^ now.subsec_nanos() ^ std::process::id(),
            next: Default::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n:x}", self.prefix);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The span of one request: method, matched route and request id, so
/// every log line written while answering it names them.
pub fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), route, request_id = id)
}
