//! Streaming NDJSON batches: request lines are read as they arrive and
//! answered in order, a chunk of lines per read lock, so a batch of any
//! length costs bounded memory and never holds writers off for long.
//! Blank lines are skipped; a bad line gets an `{"line", "error"}` object.

use super::{Problem, SEQ_HEADER};
use crate::acts::MAX_LINE_BYTES;
use crate::graph::FamilyGraph;
use crate::registry::{Line, LineSplitter, Registry};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;

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
pub async fn per_line<F>(reg: Arc<Registry>, lines: Vec<Line>, f: &F) -> Vec<NdjsonAnswer>
where
    F: Fn(&FamilyGraph, &[u8]) -> NdjsonAnswer,
{
    let g = reg.graph();
    lines
        .iter()
        .map(|l| too_long(l).unwrap_or_else(|| f(&g, &l.bytes)))
        .collect()
}

struct State<F> {
    reg: Arc<Registry>,
    input: axum::body::BodyDataStream,
    split: LineSplitter,
    pending: VecDeque<Line>,
    done: bool,
    f: Arc<F>,
}

/// Answers every line of `body`, a chunk of lines at a time with `f`
/// (which returns one answer per line, in order), streaming them back.
pub fn stream<F, Fut>(reg: Arc<Registry>, body: Body, f: F) -> Response
where
    F: Fn(Arc<Registry>, Vec<Line>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Vec<NdjsonAnswer>> + Send,
{
    let seq = reg.applied_seq();
    let state = State {
        reg,
        input: body.into_data_stream(),
        split: LineSplitter::default(),
        pending: VecDeque::new(),
        done: false,
        f: Arc::new(f),
    };
    let out = futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if !s.pending.is_empty() {
                let n = s.pending.len().min(CHUNK);
                let lines: Vec<Line> = s.pending.drain(..n).collect();
                let numbers: Vec<u64> = lines.iter().map(|l| l.no).collect();
                let answers = (s.f)(s.reg.clone(), lines).await;
                let mut buf = Vec::with_capacity(n * 256);
                for (answer, no) in answers.into_iter().zip(numbers) {
                    buf.extend_from_slice(&answer.with_line(no));
                    buf.push(b'\n');
                }
                return Some((Ok::<_, std::io::Error>(Bytes::from(buf)), s));
            }
            if s.done {
                return None;
            }
            let mut lines = Vec::new();
            match s.input.next().await {
                Some(Ok(chunk)) => s.split.push(&chunk, &mut lines),
                Some(Err(_)) => {
                    // The client stopped sending: answer what arrived, then end.
                    s.split.finish(&mut lines);
                    s.done = true;
                }
                None => {
                    s.split.finish(&mut lines);
                    s.done = true;
                }
            }
            s.pending.extend(lines);
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (header::HeaderName::from_static(SEQ_HEADER), seq.to_string()),
        ],
        Body::from_stream(out),
    )
        .into_response()
}
