//! NDJSON batches. A batch's whole body is read first, within the
//! configured caps ([`BatchLimits`]), and only then answered, a chunk of
//! lines per read lock, as a stream: a client that sends its whole body
//! before it reads (Python's `http.client`, Java's `HttpURLConnection`)
//! would otherwise find both sides' socket buffers full and both waiting.
//! Blank lines are skipped; a bad line gets an `{"line", "error"}` object.

use super::{AppState, Problem, SEQ_HEADER};
use crate::acts::MAX_LINE_BYTES;
use crate::graph::FamilyGraph;
use crate::iin::Iin;
use crate::query::Reader;
use crate::registry::{Line, LineSplitter, Registry};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Lines answered under one read lock.
const CHUNK: usize = 256;

/// One answer line (without its newline).
pub struct NdjsonAnswer(Vec<u8>);

impl NdjsonAnswer {
    pub fn ok<T: serde::Serialize>(v: &T) -> NdjsonAnswer {
        NdjsonAnswer(serde_json::to_vec(v).expect("answers serialize"))
    }

    pub fn error(p: Problem) -> NdjsonAnswer {
        NdjsonAnswer::ok(&serde_json::json!({ "error": p }))
    }

    fn with_line(self, no: u64) -> Vec<u8> {
        // Error lines also say which request line they answer.
        if self.0.starts_with(br#"{"error":"#) {
            let mut v = format!(r#"{{"line":{no},"#).into_bytes();
            v.extend_from_slice(&self.0[1..]);
            v
        } else {
            self.0
        }
    }
}

/// The error answer for a line too long to be a request, if it is one.
pub fn too_long(line: &Line) -> Option<NdjsonAnswer> {
    (line.len > MAX_LINE_BYTES as u64).then(|| {
        NdjsonAnswer::error(Problem::bad_request(
            "line_too_long",
            format!(
                "line {} is {} bytes; at most {MAX_LINE_BYTES}",
                line.no, line.len
            ),
        ))
    })
}

/// A chunk processor for lines answered from the graph alone, one by one.
/// `f` adds the IINs each answer reveals.
pub async fn per_line<F>(
    reg: Arc<Registry>,
    lines: Vec<Line>,
    f: &F,
) -> (Vec<NdjsonAnswer>, Vec<Iin>)
where
    F: Fn(&FamilyGraph, &[u8], &mut Vec<Iin>) -> NdjsonAnswer,
{
    let mut revealed = Vec::with_capacity(lines.len() * 2);
    let g = reg.graph();
    let answers = lines
        .iter()
        .map(|l| too_long(l).unwrap_or_else(|| f(&g, &l.bytes, &mut revealed)))
        .collect();
    (answers, revealed)
}

/// The caps on one NDJSON batch, and on how many are held at once: the
/// memory batches take is at most `concurrent × max_bytes` for the bodies,
/// plus a chunk of answers each.
#[derive(Clone, Debug)]
pub struct BatchLimits {
    /// Largest body, in bytes.
    pub max_bytes: usize,
    /// Most lines (blank ones count: they are numbered).
    pub max_lines: u64,
    /// Batches read or answered at once; more wait their turn.
    pub concurrent: usize,
    /// Time to receive a whole body.
    pub read_timeout: Duration,
}

impl Default for BatchLimits {
    fn default() -> BatchLimits {
        BatchLimits {
            max_bytes: 64 << 20,
            max_lines: 1_000_000,
            concurrent: 2,
            read_timeout: Duration::from_secs(120),
        }
    }
}

/// The limits with the permits that enforce `concurrent`.
pub struct BatchGate {
    pub limits: BatchLimits,
    permits: Arc<Semaphore>,
}

impl BatchGate {
    pub fn new(limits: BatchLimits) -> BatchGate {
        let permits = Arc::new(Semaphore::new(limits.concurrent.max(1)));
        BatchGate { limits, permits }
    }
}

/// A batch's whole body, read within the limits. It holds its place among
/// the concurrent batches until it is dropped (when its answer is sent).
pub struct BatchBody {
    pub bytes: Bytes,
    _permit: OwnedSemaphorePermit,
}

impl BatchBody {
    /// Reads `body` to its end: 413 `batch_too_large` beyond a cap (a
    /// declared length over it is refused before reading), 408
    /// `body_timeout` when it does not arrive in time, 400
    /// `body_unreadable` when the connection breaks.
    /// `route` labels the count of lines in the metrics.
    pub async fn read(
        gate: &BatchGate,
        route: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<BatchBody, Problem> {
        let limits = &gate.limits;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limits.max_bytes as u64) {
            return Err(too_many_bytes(limits));
        }
        let permit = gate
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the batch semaphore is never closed");
        let read = async {
            let mut buf = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
            let mut newlines = 0u64;
            let mut over: Option<Problem> = None;
            let mut input = body.into_data_stream();
            while let Some(chunk) = input.next().await {
                let chunk = chunk.map_err(|_| Problem::body_unreadable())?;
                if over.is_some() {
                    // Read on (and drop) to the end, so a client that sends
                    // everything before reading gets the answer, not a reset.
                    continue;
                }
                if buf.len() + chunk.len() > limits.max_bytes {
                    over = Some(too_many_bytes(limits));
                    buf = BytesMut::new();
                    continue;
                }
                newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                buf.extend_from_slice(&chunk);
                if line_count(newlines, &buf) > limits.max_lines {
                    over = Some(Problem::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "batch_too_large",
                        format!(
                            "a batch may have at most {} lines; split it into several requests",
                            limits.max_lines
                        ),
                    ));
                    buf = BytesMut::new();
                }
            }
            match over {
                Some(p) => Err(p),
                None => {
                    let lines = line_count(newlines, &buf);
                    Ok((buf.freeze(), lines))
                }
            }
        };
        let (bytes, lines) = tokio::time::timeout(limits.read_timeout, read)
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        limits.read_timeout.as_secs()
                    ),
                )
            })??;
        metrics::counter!(super::metrics::BATCH_LINES, "route" => route.to_owned())
            .increment(lines);
        Ok(BatchBody {
            bytes,
            _permit: permit,
        })
    }
}

/// Lines in a body with `newlines` newlines: a last line without one counts.
fn line_count(newlines: u64, body: &[u8]) -> u64 {
    newlines + u64::from(!body.is_empty() && !body.ends_with(b"\n"))
}

fn too_many_bytes(limits: &BatchLimits) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "batch_too_large",
        format!(
            "a batch may be at most {} bytes; split it into several requests",
            limits.max_bytes
        ),
    )
}

impl FromRequest<AppState> for BatchBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<BatchBody, Problem> {
        let (parts, body) = req.into_parts();
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or("unmatched", |p| p.as_str());
        BatchBody::read(state.batches(), route, &parts.headers, body).await
    }
}

struct State<F> {
    reader: Arc<Reader>,
    batch: BatchBody,
    /// Bytes of the body already split into lines.
    pos: usize,
    done: bool,
    split: LineSplitter,
    pending: VecDeque<Line>,
    f: Arc<F>,
    /// A segment whose audit record is being written, and one written
    /// (ready to send).
    inflight: Option<Segment>,
    ready: Option<Bytes>,
    stopped: bool,
}

/// Answered lines and the commit of their audit record.
struct Segment {
    bytes: Bytes,
    first_line: u64,
    audit: tokio::task::JoinHandle<Result<(), crate::access::AuditError>>,
}

/// Body bytes fed to the line splitter at a time: a few hundred lines.
pub(super) const FEED: usize = 64 << 10;

/// Lines answered per audit record: the record of one segment is written
/// while the one before it is sent.
const SEGMENT: usize = 8192;

impl<F, Fut> State<F>
where
    F: Fn(Arc<Registry>, Vec<Line>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (Vec<NdjsonAnswer>, Vec<Iin>)> + Send,
{
    /// Answers the next lines, up to a segment, and starts writing their
    /// audit record (every IIN their answers revealed).
    async fn next_segment(&mut self) -> Option<Segment> {
        let mut buf = Vec::new();
        let mut iins = Vec::new();
        let mut lines_done = 0;
        let mut first_line = None;
        let mut last_line = 0;
        while lines_done < SEGMENT {
            if self.pending.is_empty() {
                if self.done {
                    break;
                }
                let body = &self.batch.bytes;
                let end = (self.pos + FEED).min(body.len());
                let mut lines = Vec::new();
                self.split.push(&body[self.pos..end], &mut lines);
                self.pos = end;
                if end == body.len() {
                    self.split.finish(&mut lines);
                    self.done = true;
                }
                self.pending.extend(lines);
                continue;
            }
            let n = self.pending.len().min(CHUNK);
            let lines: Vec<Line> = self.pending.drain(..n).collect();
            let numbers: Vec<u64> = lines.iter().map(|l| l.no).collect();
            first_line.get_or_insert(numbers[0]);
            last_line = numbers[n - 1];
            let (answers, revealed) = (self.f)(self.reader.registry().clone(), lines).await;
            iins.extend(revealed);
            for (answer, no) in answers.into_iter().zip(numbers) {
                buf.extend_from_slice(&answer.with_line(no));
                buf.push(b'\n');
            }
            lines_done += n;
        }
        let first_line = first_line?;
        let reader = self.reader.clone();
        let outcome = format!("lines {first_line}-{last_line}");
        let audit = tokio::spawn(async move { reader.record(&outcome, iins).await });
        Some(Segment {
            bytes: Bytes::from(buf),
            first_line,
            audit,
        })
    }

    /// The next bytes to send: a segment once its audit record is written
    /// (the next one already answered and being written meanwhile), or,
    /// when a record cannot be written, a last line saying so.
    async fn next_bytes(&mut self) -> Option<Bytes> {
        if self.stopped {
            return None;
        }
        if self.ready.is_none() {
            let seg = match self.inflight.take() {
                Some(s) => s,
                None => self.next_segment().await?,
            };
            match seg.audit.await {
                Ok(Ok(())) => self.ready = Some(seg.bytes),
                _ => {
                    self.stopped = true;
                    let mut p = super::access::audit_unavailable();
                    p.detail = format!(
                        "the record of this lookup could not be written, so lines {} on are not answered; send them again shortly",
                        seg.first_line
                    );
                    let mut line = NdjsonAnswer::error(p).with_line(seg.first_line);
                    line.push(b'\n');
                    return Some(Bytes::from(line));
                }
            }
        }
        if self.inflight.is_none() {
            self.inflight = self.next_segment().await;
        }
        self.ready.take()
    }
}

/// Answers every line of `batch`, a chunk of lines at a time with `f`
/// (which returns one answer per line, in order), streaming them back to
/// `reader`'s caller, each segment once its audit record is written. When the first
/// one cannot be, the answer is 503 `audit_unavailable`; when a later one
/// cannot be, a last line says from which line on nothing was answered.
pub async fn stream<F, Fut>(reader: Reader, batch: BatchBody, f: F) -> Response
where
    F: Fn(Arc<Registry>, Vec<Line>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (Vec<NdjsonAnswer>, Vec<Iin>)> + Send,
{
    let seq = reader.registry().applied_seq();
    let mut state = State {
        reader: Arc::new(reader),
        batch,
        pos: 0,
        done: false,
        split: LineSplitter::default(),
        pending: VecDeque::new(),
        f: Arc::new(f),
        inflight: None,
        ready: None,
        stopped: false,
    };
    // The first segment is audited before the answer's head, so a failure
    // there is still a 503.
    let first = state.next_bytes().await;
    if state.stopped {
        return super::access::audit_unavailable().into_response();
    }
    let out = futures_util::stream::unfold((first, state), |(first, mut s)| async move {
        let bytes = match first {
            Some(b) => b,
            None => s.next_bytes().await?,
        };
        Some((Ok::<_, std::io::Error>(bytes), (None, s)))
    });
    let mut res = (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::HeaderName::from_static(SEQ_HEADER), seq.to_string()),
        ],
        Body::from_stream(out),
    )
        .into_response();
    res.extensions_mut().insert(super::access::Audited);
    res
}
