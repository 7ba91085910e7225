//! NDJSON framing: however the input is cut into chunks (as a socket cuts
//! a body), the splitter gives the same numbered lines as the file reader
//! does for the whole input; no line holds a newline, none is blank, and
//! a long line keeps only its head but its true length (checked against a
//! model written the obvious way).
#![no_main]

use kinship_acts::acts::MAX_LINE_BYTES;
use kinship_acts::ndjson::{Line, LineSplitter, Lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    // With a first byte of 0xFF, the next 0xFF stands for 70,000 'x': a
    // line longer than a record may be (64 KiB), which is cut, from a few
    // bytes of input (and only sometimes: such inputs are slow).
    let mut body = Vec::with_capacity(data.len());
    for &b in data {
        if cut == 0xFF && b == 0xFF && body.len() < 70_000 {
            body.resize(body.len() + 70_000, b'x');
        } else {
            body.push(b);
        }
    }
    let body = &body[..];
    // Chunks of 1 to 254 bytes; a few hundred of a long input.
    let step = if cut == 0xFF { 1 + body.len() / 300 } else { usize::from(cut).max(1) };
    let mut split = LineSplitter::default();
    let mut chunked: Vec<Line> = Vec::new();
    for chunk in body.chunks(step) {
        split.push(chunk, &mut chunked);
    }
    split.finish(&mut chunked);
    let whole: Vec<Line> = Lines::new(body).map(|l| l.expect("reading memory")).collect();
    assert_eq!(chunked, whole);
    assert_eq!(chunked, model(body));
});

/// The framing written the obvious way, on the whole input at once.
fn model(body: &[u8]) -> Vec<Line> {
    if body.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut parts: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if body.ends_with(b"\n") {
        parts.pop();
    }
    for (i, mut part) in parts.into_iter().enumerate() {
        if part.len() <= MAX_LINE_BYTES + 1 && part.ends_with(b"\r") {
            part = &part[..part.len() - 1];
        }
        let head = &part[..part.len().min(MAX_LINE_BYTES + 1)];
        if head.len() == part.len() && part.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.push(Line { no: i as u64 + 1, bytes: head.to_vec(), len: part.len() as u64 });
    }
    out
}
