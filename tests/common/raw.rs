//! A raw HTTP/1.1 client over a std TcpStream that writes its whole
//! request before it reads a byte of the answer (as Python's `http.client`
//! and Java's `HttpURLConnection` do), with timeouts so a deadlock is a
//! failure and not a hung test.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer as the raw client read it.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    pub fn lines(&self) -> Vec<Value> {
        self.body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }
}

/// How the raw client frames a body.
#[derive(Clone, Copy)]
pub enum Framing {
    Length,
    Chunked,
}

/// Writes the request head and the whole body, and only then reads the
/// answer to the end (`Connection: close`). Timeouts turn a deadlock into
/// a failure instead of a hung test.
pub fn send_all_then_read(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
    framing: Framing,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: kinship\r\nContent-Type: {ctype}\r\nConnection: close\r\n\
         Authorization: Bearer {}\r\nX-Purpose: {}\r\n",
        super::TEST_KEY,
        super::TEST_PURPOSE
    )
    .into_bytes();
    match framing {
        Framing::Length => {
            req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            req.extend_from_slice(body);
        }
        Framing::Chunked => {
            req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for c in body.chunks(1 << 16) {
                req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                req.extend_from_slice(c);
                req.extend_from_slice(b"\r\n");
            }
            req.extend_from_slice(b"0\r\n\r\n");
        }
    }
    s.write_all(&req)
        .unwrap_or_else(|e| panic!("{method} {path}: writing the whole request: {e}"));
    read_reply(&mut s, path)
}

pub fn read_reply(s: &mut TcpStream, path: &str) -> Reply {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{path}: reading the answer: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: no complete head in {} bytes", raw.len()));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut head_lines = head.split("\r\n");
    let status = head_lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = head_lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut reply = Reply {
        status: status.parse().unwrap(),
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        reply.body = unchunk(&reply.body);
    }
    reply
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&b[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// A free loopback port (taken and released; the server binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    Some(read_reply(&mut s, path).status)
}

/// A request with a Content-Length body and extra headers, answer read
/// to its end.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: kinship\r\nConnection: close\r\n");
    // The test client's credential and purpose, unless the test sends its own.
    let bearer = format!("Bearer {}", super::TEST_KEY);
    for (k, v) in [
        ("Authorization", bearer.as_str()),
        ("X-Purpose", super::TEST_PURPOSE),
    ] {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut req = req.into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    read_reply(&mut s, path)
}

/// Waits (at most a minute) until `addr` answers `/readyz` with 200.
pub fn wait_ready(addr: SocketAddr) {
    let began = std::time::Instant::now();
    while get_status(addr, "/readyz") != Some(200) {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "{addr} never got ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
