//! The HTTP API (axum). Handlers stay thin: they parse the request, ask
//! `query::Reader` (which audits), and send the answer. `router` builds the app apart from
//! serving it, so tests drive it without a socket.

pub mod access;
mod acts;
mod audit;
mod checks;
mod family;
mod health;
pub mod metrics;
mod ndjson;
mod openapi;
mod params;
mod persons;
pub mod problem;
mod quality;
mod refused;
mod relations;
mod ui;

pub use checks::parse_check;
pub use family::parse_family_line;
pub use ndjson::BatchLimits;
pub use problem::Problem;

use crate::registry::Registry;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::sync::{Arc, OnceLock};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_axum::router::OpenApiRouter;

/// Shared state: the registry once the graph is built, and the caps on
/// NDJSON batches.
#[derive(Clone)]
pub struct AppState {
    registry: Arc<OnceLock<Arc<Registry>>>,
    batches: Arc<ndjson::BatchGate>,
    /// How long a request with `X-Min-Ledger-Seq` waits for that seq.
    min_seq_wait: std::time::Duration,
    /// Requests per second each client may send (with a burst), if capped.
    rate: Option<Arc<governor::DefaultKeyedRateLimiter<i64>>>,
    /// Longest time to the head of an answer.
    request_timeout: std::time::Duration,
}

impl Default for AppState {
    fn default() -> AppState {
        AppState::with_limits(BatchLimits::default())
    }
}

impl AppState {
    pub fn with_limits(limits: BatchLimits) -> AppState {
        AppState {
            registry: Arc::default(),
            batches: Arc::new(ndjson::BatchGate::new(limits)),
            min_seq_wait: std::time::Duration::from_secs(2),
            rate: None,
            request_timeout: std::time::Duration::from_secs(30),
        }
    }

    /// Caps each client at `per_sec` requests a second, `burst` at once
    /// (429 `rate_limited` with `Retry-After` beyond); 0 for no cap.
    pub fn with_client_rate(mut self, per_sec: u32, burst: u32) -> AppState {
        self.rate = std::num::NonZeroU32::new(per_sec).map(|r| {
            let burst = std::num::NonZeroU32::new(burst).unwrap_or(r);
            Arc::new(governor::RateLimiter::keyed(
                governor::Quota::per_second(r).allow_burst(burst),
            ))
        });
        self
    }

    /// The longest a request may take to the head of its answer (503
    /// `request_timeout` beyond; a batch's lines stream on after it).
    pub fn with_request_timeout(mut self, t: std::time::Duration) -> AppState {
        self.request_timeout = t;
        self
    }

    /// How long a request naming `X-Min-Ledger-Seq` may wait for it.
    pub fn with_min_seq_wait(mut self, wait: std::time::Duration) -> AppState {
        self.min_seq_wait = wait;
        self
    }

    pub fn ready(registry: Arc<Registry>) -> AppState {
        let s = AppState::default();
        s.set_ready(registry);
        s
    }

    fn batches(&self) -> &ndjson::BatchGate {
        &self.batches
    }

    /// Publishes the registry: from now on the service is ready.
    pub fn set_ready(&self, registry: Arc<Registry>) {
        let _ = self.registry.set(registry);
    }

    pub fn registry(&self) -> Option<&Arc<Registry>> {
        self.registry.get()
    }
}

/// Extractor for handlers that need the graph: answers 503 until it is built.
pub struct Ready(pub Arc<Registry>);

impl FromRequestParts<AppState> for Ready {
    type Rejection = Problem;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        state
            .registry()
            .cloned()
            .map(Ready)
            .ok_or_else(Problem::not_ready)
    }
}

/// The read path for the route's caller: 503 until the graph is built.
impl FromRequestParts<AppState> for crate::query::Reader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Ready(reg) = Ready::from_request_parts(parts, state).await?;
        let caller = crate::access::Caller::from_request_parts(parts, state).await?;
        let path = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or("unmatched", |p| p.as_str());
        let route = format!("{} {path}", parts.method);
        Ok(crate::query::Reader::new(reg, caller, route))
    }
}

/// An audited answer: JSON, with the seq it reflects, marked audited.
impl<T: serde::Serialize> axum::response::IntoResponse for crate::query::Answer<T> {
    fn into_response(self) -> axum::response::Response {
        let mut res =
            ([(SEQ_HEADER, self.seq.to_string())], axum::Json(self.value)).into_response();
        res.extensions_mut().insert(access::Audited);
        res
    }
}

/// An audited GEDCOM document, as its media type.
impl axum::response::IntoResponse for crate::query::Answer<crate::query::gedcom::Gedcom> {
    fn into_response(self) -> axum::response::Response {
        let mut res = (
            [
                (SEQ_HEADER, self.seq.to_string()),
                (
                    axum::http::header::CONTENT_TYPE.as_str(),
                    crate::query::gedcom::MEDIA_TYPE.to_owned(),
                ),
            ],
            self.value.0,
        )
            .into_response();
        res.extensions_mut().insert(access::Audited);
        res
    }
}

impl From<crate::query::ReadError> for Problem {
    fn from(e: crate::query::ReadError) -> Problem {
        use crate::query::ReadError;
        match e {
            ReadError::PersonUnknown => Problem::person_unknown(),
            ReadError::ActUnknown => Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "act_unknown",
                "no act with this act_id is recorded",
            ),
            ReadError::Ledger(e) => e.into(),
            ReadError::Audit(e) => {
                tracing::warn!(error = %e, "answer withheld: its audit record was not written");
                access::audit_unavailable()
            }
        }
    }
}

/// The API's routes and its OpenAPI document, built from the same
/// declarations (each module registers its handlers with `routes!`).
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    api_with(OpenApiRouter::new())
}

/// [`api`] and `extra` routes (tests add one).
fn api_with(extra: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = OpenApiRouter::with_openapi(openapi::base())
        .merge(extra)
        .merge(health::router())
        .merge(metrics::router())
        .merge(acts::router())
        .merge(checks::router())
        .merge(family::router())
        .merge(persons::router())
        .merge(relations::router())
        .merge(quality::router())
        .merge(refused::router())
        .merge(audit::router())
        .split_for_parts();
    openapi::finish(&mut doc);
    (routes, doc)
}

/// The OpenAPI 3.1 document of the API, as served at `/openapi.json`.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    api().1
}

pub fn router(state: AppState) -> Router {
    router_over(state, api())
}

fn router_over(
    state: AppState,
    (routes, doc): (Router<AppState>, utoipa::openapi::OpenApi),
) -> Router {
    metrics::handle();
    let known = Arc::new(params::KnownParams::from_doc(&doc));
    let needs = access::Needs::from_doc(&doc);
    routes
        .merge(openapi::docs(doc))
        .merge(ui::router())
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not answer that method",
            )
        })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(Problem::internal(&"handler panicked"))
        }))
        // One middleware for what every request needs: each `from_fn`
        // layer clones the route's boxed service per request, and four of
        // them cost ~10% of a single check (measured with perf). Outside
        // the panic catcher, so a panic's 500 is counted too.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(Around {
                state: state.clone(),
                known,
                needs,
            }),
            around,
        ))
        // Failures are logged once where they are handled (Problem::internal);
        // the trace layer's own failure line would log them a second time.
        // Outermost last: the id is set, then the span opened with it, and
        // the id copied onto the answer.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(metrics::request_span)
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
        .layer(SetRequestIdLayer::x_request_id(
            metrics::RequestIds::default(),
        ))
        .with_state(state)
}

/// The answer for a path no route serves.
fn not_found() -> Problem {
    Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such resource",
    )
}

/// What [`around`] needs.
struct Around {
    state: AppState,
    known: Arc<params::KnownParams>,
    needs: access::Needs,
}

/// Around every request: refuses query parameters the route does not
/// take, identifies the caller (credential, scope, purpose), waits for
/// `X-Min-Ledger-Seq`, refuses a personal-data answer that was not
/// audited (one that did not come through `query::Reader`), adds
/// `X-Ledger-Seq` (the seq applied when the request arrived, which the
/// answer reflects at least) to answers that did not set it, and counts
/// and times the answer.
async fn around(
    axum::extract::State(ctx): axum::extract::State<Arc<Around>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let began = std::time::Instant::now();
    let route = metrics::route_of(&req);
    let method = metrics::method_label(req.method());
    let registry = ctx.state.registry();
    let seq = registry.map(|r| r.applied_seq());
    let need = route
        .as_ref()
        .and_then(|r| ctx.needs.get(req.method(), r.as_str()));
    let mut audit = false;
    let refused = match (params::refuse_unknown(&ctx.known, &req), registry) {
        (Some(p), _) => Some(p),
        (None, Some(reg)) => {
            let caller = match need {
                Some(n) => match access::authorize(reg, n, req.headers()).await {
                    Ok(c) => Some((c, n)),
                    Err(p) => return finish(p.into_response(), seq, route, method, began),
                },
                None => None,
            };
            if let Some((caller, n)) = caller {
                if let Some(p) = rate_limited(&ctx.state, caller.client.id) {
                    return finish(p.into_response(), seq, route, method, began);
                }
                audit = n.purpose;
                req.extensions_mut().insert(caller);
            }
            match req.headers().get(MIN_SEQ_HEADER).cloned() {
                Some(v) => min_seq(reg, ctx.state.min_seq_wait, v).await,
                None => None,
            }
        }
        (None, None) => None,
    };
    // Batches have their own read timeout and stream their answer.
    let timeout = if route.as_ref().is_some_and(|r| is_batch(r.as_str())) {
        std::time::Duration::MAX
    } else {
        ctx.state.request_timeout
    };
    let mut res = match refused {
        Some(p) => p.into_response(),
        None => match tokio::time::timeout(timeout, next.run(req)).await {
            Ok(res) => res,
            Err(_) => {
                let mut p = Problem::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "request_timeout",
                    format!(
                        "the answer took longer than {} s; try again shortly",
                        ctx.state.request_timeout.as_secs_f64()
                    ),
                );
                p.retry_after = Some(5);
                p.into_response()
            }
        },
    };
    if audit && res.status().is_success() && res.extensions().get::<access::Audited>().is_none() {
        // A handler that answered without `query::Reader`: nothing is
        // told that is not recorded.
        tracing::error!(route = ?route.as_ref().map(|r| r.as_str()), "a personal-data answer bypassed the audit");
        res = Problem::internal(&"the answer was not recorded, so it is withheld").into_response();
    }
    finish(res, seq, route, method, began)
}

/// Routes that take NDJSON batches.
fn is_batch(route: &str) -> bool {
    route.ends_with(":batch") || route == "/v1/acts"
}

/// 429 `rate_limited` when the client has used its rate.
fn rate_limited(state: &AppState, client: i64) -> Option<Problem> {
    let limiter = state.rate.as_ref()?;
    let wait = limiter.check_key(&client).err()?;
    let secs = wait
        .wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ))
        .as_secs_f64()
        .ceil()
        .max(1.0) as u32;
    let mut p = Problem::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "this client has sent more requests than its rate allows; slow down (see Retry-After)",
    );
    p.retry_after = Some(secs);
    Some(p)
}

/// Adds `X-Ledger-Seq` and counts the answer.
fn finish(
    mut res: axum::response::Response,
    seq: Option<i64>,
    route: Option<axum::extract::MatchedPath>,
    method: &'static str,
    began: std::time::Instant,
) -> axum::response::Response {
    if let Some(seq) = seq
        && !res.headers().contains_key(SEQ_HEADER)
    {
        res.headers_mut()
            .insert(SEQ_HEADER, axum::http::HeaderValue::from(seq));
    }
    metrics::record(route.as_ref(), method, res.status(), began.elapsed());
    res
}

/// `X-Min-Ledger-Seq: n`: the caller must see at least record `n` (one it
/// wrote through another replica). The request waits for this replica to
/// apply it, at most `wait`; the problem to answer when it is malformed
/// (400 `invalid_min_seq`) or not reached (503 `ledger_behind`, with
/// `Retry-After`).
async fn min_seq(
    reg: &Registry,
    wait: std::time::Duration,
    v: axum::http::HeaderValue,
) -> Option<Problem> {
    let Some(want) = v.to_str().ok().and_then(|s| s.trim().parse::<i64>().ok()) else {
        return Some(Problem::bad_request(
            "invalid_min_seq",
            "header X-Min-Ledger-Seq: must be a ledger sequence number (a whole number)",
        ));
    };
    if reg.wait_for_seq(want, wait).await {
        return None;
    }
    let mut p = Problem::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "ledger_behind",
        format!(
            "this replica has applied the ledger up to seq {}, not yet {want}; try again shortly",
            reg.applied_seq()
        ),
    );
    p.retry_after = Some(1);
    Some(p)
}

/// Serves `router` on `listener` until SIGINT or SIGTERM, then stops
/// accepting and lets the requests in flight finish for at most `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    serve_until(listener, state, grace, shutdown_signal()).await
}

/// [`serve`] with the stop signal given (tests send their own).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    grace: std::time::Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = tokio_util::sync::CancellationToken::new();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown({
        let stopping = stopping.clone();
        async move {
            stop.await;
            stopping.cancel();
        }
    });
    // axum's graceful shutdown waits for every connection with no limit;
    // one client holding a request open would hold the process.
    tokio::select! {
        r = server => r,
        () = async {
            stopping.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "grace period over; closing the connections still open");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// `as_of` from a request, or today; a bad date is a 400 naming the field.
pub fn as_of_or_today(s: Option<&str>) -> Result<chrono::NaiveDate, Problem> {
    match s {
        None => Ok(crate::calendar::today()),
        Some(s) => crate::acts::parse_date(s).ok_or_else(|| {
            Problem::bad_request(
                "invalid_date",
                "field as_of: must be a real date written YYYY-MM-DD",
            )
        }),
    }
}

/// Reads a body that must be small (one JSON request): 413
/// `body_too_large` beyond `max` bytes (`hint` says what to send instead),
/// read on to its end so a client that writes before reading gets the
/// answer; 400 `body_unreadable` when the connection breaks.
pub async fn small_body(
    body: axum::body::Body,
    max: usize,
    hint: &str,
) -> Result<bytes::Bytes, Problem> {
    use futures_util::StreamExt;
    let mut buf = bytes::BytesMut::new();
    let mut over = false;
    let mut input = body.into_data_stream();
    while let Some(chunk) = input.next().await {
        let chunk = chunk.map_err(|_| Problem::body_unreadable())?;
        over |= buf.len() + chunk.len() > max;
        if over {
            buf.clear();
        } else {
            buf.extend_from_slice(&chunk);
        }
    }
    if over {
        return Err(Problem::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("this body may be at most {max} bytes; {hint}"),
        ));
    }
    Ok(buf.freeze())
}

/// The `X-Ledger-Seq` header: which ledger sequence number an answer reflects.
pub const SEQ_HEADER: &str = "x-ledger-seq";

/// The request header naming the ledger seq an answer must reflect.
pub const MIN_SEQ_HEADER: &str = "x-min-ledger-seq";

#[cfg(test)]
mod tests {
    use super::*;

    /// A route that reveals a person without going through `query`.
    #[utoipa::path(
        get,
        path = "/v1/bypass",
        security(("api_key" = ["checks"])),
        responses((status = 200, description = "a person"))
    )]
    async fn bypass() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({"iin": "750412301013"}))
    }

    #[tokio::test]
    async fn an_answer_that_bypassed_the_audit_is_withheld() {
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("l.db");
        let ledger = crate::ledger::Ledger::open(db.to_str().unwrap())
            .await
            .unwrap();
        let reg = Arc::new(Registry::open(ledger).await.unwrap());
        let key = "k".repeat(40);
        reg.clients()
            .add_with_key("t", crate::access::Scopes::all(), &key)
            .await
            .unwrap();
        let routes = OpenApiRouter::new().routes(utoipa_axum::routes!(bypass));
        let app = router_over(AppState::ready(reg), api_with(routes));
        let req = axum::http::Request::get("/v1/bypass")
            .header("authorization", format!("Bearer {key}"))
            .header("x-purpose", "test")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("\"internal\""), "{text}");
        assert!(!text.contains("750412301013"), "the person leaked: {text}");
    }
}
