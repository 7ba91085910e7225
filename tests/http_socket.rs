//! The HTTP API over a real socket, driven by a client that writes its
//! whole request before it reads a byte of the answer (as Python's
//! `http.client` and Java's `HttpURLConnection` do): batches of 200,000
//! lines for checks, family and acts, the batch caps, and `serve`'s
//! shutdown with a grace period while a client holds a batch open.

mod common;

use common::TestDb;
use common::raw::{Framing, Reply, free_port, read_reply, send_all_then_read, wait_ready};
use kinship::generate::{GenerateOptions, generate};
use kinship::http::{AppState, BatchLimits};
use kinship::ledger::Ledger;
use kinship::registry::{BulkOptions, Registry};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines in each big batch.
const BIG: usize = 200_000;

/// A registry over a fresh SQLite ledger holding `records`.
async fn registry(db: &TestDb, records: &[String]) -> Arc<Registry> {
    let reg = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    if !records.is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("records.ndjson");
        std::fs::write(&file, records.join("\n") + "\n").unwrap();
        reg.import_bulk(&file, &BulkOptions::default(), |_| {})
            .await
            .unwrap();
    }
    Arc::new(reg)
}

/// Serves `reg` on a loopback port until the returned sender fires.
async fn start(
    reg: Arc<Registry>,
    limits: BatchLimits,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    common::authorize(&reg).await;
    let state = AppState::with_limits(limits);
    state.set_ready(reg);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(kinship::http::serve_until(
        listener,
        state,
        Duration::from_secs(1),
        async move {
            let _ = rx.await;
        },
    ));
    (addr, tx)
}

/// `send_all_then_read` off the async runtime.
async fn call(addr: SocketAddr, method: &str, path: &str, ctype: &str, body: Vec<u8>) -> Reply {
    call_framed(addr, method, path, ctype, body, Framing::Length).await
}

async fn call_framed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
    framing: Framing,
) -> Reply {
    let (method, path, ctype) = (method.to_owned(), path.to_owned(), ctype.to_owned());
    tokio::task::spawn_blocking(move || {
        send_all_then_read(addr, &method, &path, &ctype, &body, framing)
    })
    .await
    .unwrap()
}

fn population(persons: u64) -> Vec<String> {
    let mut buf = Vec::new();
    generate(&GenerateOptions { persons, seed: 7 }, &mut buf).unwrap();
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// (child, mother) of the first `n` birth records.
fn births(records: &[String], n: usize) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| serde_json::from_str::<Value>(r).unwrap())
        .filter(|v| v["kind"] == "birth" && v["mother"].is_string())
        .take(n)
        .map(|v| {
            (
                v["child"].as_str().unwrap().to_owned(),
                v["mother"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `BIG` lines cycling through `distinct`, with a blank line and a bad
/// line every 1000 lines; returns the body and, per answer line, which
/// distinct request it repeats (`None` for the bad line).
fn big_batch(distinct: &[String], bad: &str) -> (Vec<u8>, Vec<Option<usize>>) {
    let mut body = Vec::new();
    let mut which = Vec::with_capacity(BIG);
    for i in 0..BIG {
        if i % 1000 == 999 {
            body.extend_from_slice(b"\n");
            body.extend_from_slice(bad.as_bytes());
            which.push(None);
        } else {
            let k = i % distinct.len();
            body.extend_from_slice(distinct[k].as_bytes());
            which.push(Some(k));
        }
        body.push(b'\n');
    }
    (body, which)
}

/// Every answer line against the single-request answer for the same
/// request; bad lines carry their line number (blank lines counted).
fn compare(lines: &[Value], which: &[Option<usize>], single: &[Value], bad_code: &str) {
    assert_eq!(lines.len(), which.len(), "one answer line per request line");
    for (i, (got, w)) in lines.iter().zip(which).enumerate() {
        match w {
            Some(k) => assert_eq!(got, &single[*k], "answer line {}", i + 1),
            None => {
                // Request line numbers: one blank line before each bad one.
                let line_no = i + 1 + (i + 1) / 1000;
                assert_eq!(got["line"], line_no, "answer line {}: {got}", i + 1);
                assert_eq!(got["error"]["code"], bad_code, "answer line {}", i + 1);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_batch_of_200000_lines_completes_for_a_client_that_writes_first() {
    let records = population(3000);
    let db = TestDb::sqlite();
    let reg = registry(&db, &records).await;
    let (addr, stop) = start(reg, BatchLimits::default()).await;

    // Half related (mother and child), half not (two children).
    let pairs = births(&records, 400);
    let mut distinct = Vec::new();
    for (i, (child, mother)) in pairs.iter().enumerate() {
        distinct.push(
            json!({"owner": mother, "applicant": child, "claim": "child", "as_of": "2024-01-01"})
                .to_string(),
        );
        let other = &pairs[(i + 7) % pairs.len()].0;
        distinct.push(json!({"owner": child, "applicant": other, "claim": "sibling"}).to_string());
    }
    let mut single = Vec::new();
    for d in &distinct {
        let r = call(
            addr,
            "POST",
            "/v1/checks/kinship",
            "application/json",
            d.clone().into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200);
        single.push(r.json());
    }
    assert!(single.iter().any(|a| a["confirmed"] == true));
    assert!(single.iter().any(|a| a["confirmed"] == false));

    let (body, which) = big_batch(
        &distinct,
        r#"{"owner":"1","applicant":"2","claim":"child"}"#,
    );
    let r = call(
        addr,
        "POST",
        "/v1/checks/kinship:batch",
        "application/x-ndjson",
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    compare(&r.lines(), &which, &single, "invalid_iin");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_batch_of_200000_lines_completes_for_a_client_that_writes_first() {
    let records = population(3000);
    let db = TestDb::sqlite();
    let reg = registry(&db, &records).await;
    let (addr, stop) = start(reg, BatchLimits::default()).await;

    let mut iins: Vec<String> = Vec::new();
    for (child, mother) in births(&records, 250) {
        iins.push(child);
        iins.push(mother);
    }
    let distinct: Vec<String> = iins
        .iter()
        .map(|i| json!({"iin": i, "as_of": "2010-06-01"}).to_string())
        .collect();
    let mut single = Vec::new();
    for i in &iins {
        let r = call(
            addr,
            "GET",
            &format!("/v1/persons/{i}/family?as_of=2010-06-01"),
            "application/json",
            Vec::new(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        single.push(r.json());
    }
    let (body, which) = big_batch(&distinct, r#"{"iin":"12345"}"#);
    let r = call(
        addr,
        "POST",
        "/v1/family:batch",
        "application/x-ndjson",
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    compare(&r.lines(), &which, &single, "invalid_iin");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acts_batch_of_200000_lines_completes_for_a_client_that_writes_first() {
    let records = population(50_000);
    assert!(records.len() > BIG);
    let records = &records[..BIG];
    let db = TestDb::sqlite();
    let reg = registry(&db, &[]).await;
    let (addr, stop) = start(reg.clone(), BatchLimits::default()).await;
    let body = (records.join("\n") + "\n").into_bytes();
    let r = call(addr, "POST", "/v1/acts", "application/x-ndjson", body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a = r.json();
    let accepted = a["accepted"].as_u64().unwrap();
    let rejected = a["rejected"].as_array().unwrap().len() as u64;
    assert_eq!(
        accepted + a["duplicates"].as_u64().unwrap() + rejected,
        BIG as u64
    );

    // The same records through the bulk import give the same graph.
    let other = TestDb::sqlite();
    let bulk = registry(&other, records).await;
    assert_eq!(bulk.applied_seq(), accepted as i64);
    assert_eq!(reg.applied_seq(), accepted as i64);
    assert!(reg.graph().canonical() == bulk.graph().canonical());
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_a_cap_is_refused_whole_with_413() {
    let records = population(300);
    let db = TestDb::sqlite();
    let reg = registry(&db, &records).await;
    let seq = reg.applied_seq();
    let limits = BatchLimits {
        max_bytes: 20_000,
        max_lines: 100,
        ..BatchLimits::default()
    };
    let (addr, stop) = start(reg.clone(), limits).await;
    let line = r#"{"owner":"750101400219","applicant":"010305500121","claim":"child"}"#;
    let lines = |n: usize| (line.to_owned() + "\n").repeat(n).into_bytes();
    // Few lines, many bytes (trailing blanks are allowed in JSON).
    let wide = (line.to_owned() + &" ".repeat(400) + "\n")
        .repeat(50)
        .into_bytes();
    let bytes_detail = "a batch may be at most 20000 bytes; split it into several requests";
    let lines_detail = "a batch may have at most 100 lines; split it into several requests";
    for (body, framing, detail) in [
        // Declared too long: refused before the body is read.
        (wide.clone(), Framing::Length, bytes_detail),
        // Found too long while reading.
        (wide, Framing::Chunked, bytes_detail),
        (lines(101), Framing::Length, lines_detail),
        (lines(101), Framing::Chunked, lines_detail),
    ] {
        let r = call_framed(
            addr,
            "POST",
            "/v1/checks/kinship:batch",
            "application/x-ndjson",
            body,
            framing,
        )
        .await;
        assert_eq!(r.status, 413);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let p = r.json();
        assert_eq!(p["code"], "batch_too_large");
        assert_eq!(p["detail"], detail);
    }
    // At the caps exactly, and a last line without its newline.
    let mut body = lines(100);
    body.pop();
    let r = call(
        addr,
        "POST",
        "/v1/checks/kinship:batch",
        "application/x-ndjson",
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.lines().len(), 100);

    // Acts over a cap: nothing of it is applied.
    let acts = (records[..101].join("\n") + "\n").into_bytes();
    let r = call(addr, "POST", "/v1/acts", "application/x-ndjson", acts).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "batch_too_large");
    assert_eq!(reg.applied_seq(), seq);
    let r = call(
        addr,
        "POST",
        "/v1/family:batch",
        "application/x-ndjson",
        br#"{"iin":"750101400219"}"#.repeat(1000),
    )
    .await;
    assert_eq!(r.status, 413);
    let _ = stop.send(());
}

#[test]
fn serve_stops_within_its_grace_period_while_a_client_holds_a_batch_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let bin = env!("CARGO_BIN_EXE_kinship");
    let fixture = common::fixtures::dir().join("01-nuclear-family.ndjson");
    let out = std::process::Command::new(bin)
        .args([
            "import",
            fixture.to_str().unwrap(),
            "--no-snapshots",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::authorize_ledger(db.to_str().unwrap()));

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let grace = 3;
    let mut serve = std::process::Command::new(bin)
        .args(["serve", "--listen", &addr.to_string()])
        .args(["--shutdown-grace", &grace.to_string(), "--db"])
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(addr);

    let line = "{\"owner\":\"750101400219\",\"applicant\":\"010305500121\",\"claim\":\"child\"}\n";
    let head = |len: usize| {
        format!(
            "POST /v1/checks/kinship:batch HTTP/1.1\r\nHost: k\r\nContent-Type: application/x-ndjson\r\nContent-Length: {len}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\nX-Purpose: {}\r\n\r\n",
            common::TEST_KEY,
            common::TEST_PURPOSE
        )
    };
    // A: sends a tenth of its body and then nothing.
    let mut stalled = TcpStream::connect(addr).unwrap();
    write!(stalled, "{}{}", head(line.len() * 10), line).unwrap();
    // B: sends half, and the rest only after the signal.
    let mut late = TcpStream::connect(addr).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(late, "{}{}", head(line.len() * 2), line).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(addr).is_err(),
        "a stopping server accepts no new connection"
    );
    // The request in flight is finished.
    late.write_all(line.as_bytes()).unwrap();
    let r = read_reply(&mut late, "late batch");
    assert_eq!(r.status, 200);
    assert_eq!(r.lines().len(), 2);

    let status = loop {
        if let Some(s) = serve.try_wait().unwrap() {
            break s;
        }
        if signalled.elapsed() > Duration::from_secs(grace + 20) {
            let _ = serve.kill();
            panic!("serve did not exit {} s after SIGTERM", grace + 20);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    let mut log = String::new();
    serve
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "{status:?}: {log}");
    // It waited for the stalled client, but not past the grace period
    // (plus the at-shutdown snapshot).
    assert!(
        took >= Duration::from_secs(grace) - Duration::from_millis(200),
        "{took:?}"
    );
    assert!(took < Duration::from_secs(grace + 5), "{took:?}: {log}");
    assert!(log.contains("grace period over"), "{log}");
    let snapshots = dir.path().join("ledger.db.snapshots");
    let written = std::fs::read_dir(&snapshots)
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        written > 0,
        "no snapshot at shutdown in {}",
        snapshots.display()
    );
    drop(stalled);
}
