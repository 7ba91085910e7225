//! Faults, each against a real database: `serve` killed with SIGKILL in
//! the middle of a large `POST /v1/acts`, and a SQLite ledger whose disk
//! fills up. After each, the ledger and the graph agree, nothing is lost or
//! doubled, and sending again finishes the job.

mod common;

use common::raw::{Reply, free_port, request, wait_ready};
use kinship::generate::{GenerateOptions, generate};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn population(persons: u64) -> String {
    let mut buf = Vec::new();
    generate(&GenerateOptions { persons, seed: 5 }, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

fn serve(db: &Path, addr: SocketAddr, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kinship"))
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--client-rate",
            "0",
            "--db",
        ])
        .arg(db)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn digest(addr: SocketAddr) -> (String, i64) {
    let r = request(addr, "GET", "/v1/graph/digest", &[], b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (
        v["digest"].as_str().unwrap().to_owned(),
        v["ledger_seq"].as_i64().unwrap(),
    )
}

fn seq_of(r: &Reply) -> i64 {
    r.header("x-ledger-seq")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The digest of the graph a clean, uninterrupted load of `body` builds.
async fn reference_digest(body: &str) -> String {
    let db = common::TestDb::sqlite();
    let reg = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    let lines: Vec<&str> = body.lines().collect();
    for chunk in common::numbered(&lines).chunks(5000) {
        reg.ingest(chunk, "reference").await.unwrap();
    }
    format!("{:016x}", reg.graph().canonical().digest())
}

#[test]
fn serve_killed_during_a_large_post_loses_and_doubles_nothing() {
    let body = population(15_000);
    let lines = body.lines().count();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The schema and the test client first.
    rt.block_on(async {
        Ledger::open(db.to_str().unwrap())
            .await
            .unwrap()
            .close()
            .await;
        common::authorize_ledger(db.to_str().unwrap()).await;
    });
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = serve(&db, addr, &[]);
    wait_ready(addr);

    let sending = {
        let body = body.clone();
        std::thread::spawn(move || {
            let headers = [("Content-Type", "application/x-ndjson")];
            std::panic::catch_unwind(|| {
                request(addr, "POST", "/v1/acts", &headers, body.as_bytes())
            })
            .ok()
        })
    };
    // Killed once some batches are committed, long before the end.
    let began = Instant::now();
    loop {
        let r = request(addr, "GET", "/readyz", &[], b"");
        if seq_of(&r) > 2000 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "no batch was committed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let cut = sending.join().unwrap();
    assert!(
        cut.is_none_or(|r| r.status != 200),
        "the post finished before the kill"
    );

    // Restarted (the snapshot of an earlier start, if any, plus the ledger),
    // and rebuilt from the ledger alone: one graph.
    let mut child = serve(&db, addr, &[]);
    wait_ready(addr);
    let (after_restart, seq) = digest(addr);
    assert!(seq > 2000 && (seq as usize) < lines, "seq {seq} of {lines}");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = serve(&db, addr, &["--no-snapshots"]);
    wait_ready(addr);
    assert_eq!(
        digest(addr),
        (after_restart, seq),
        "the graph agrees with the ledger"
    );

    // Sent again: the stored part counts as duplicates, the rest is applied.
    let r = request(
        addr,
        "POST",
        "/v1/acts",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    let a = r.json();
    let (acc, dup) = (
        a["accepted"].as_i64().unwrap(),
        a["duplicates"].as_i64().unwrap(),
    );
    let rejected = a["rejected"].as_array().unwrap().len() as i64;
    assert_eq!(acc + dup + rejected, lines as i64, "{a}");
    assert_eq!(dup, seq, "what was stored before counts as duplicates");
    let (done, _) = digest(addr);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        done,
        rt.block_on(reference_digest(&body)),
        "nothing lost, nothing doubled"
    );
}

/// A SQLite ledger on a small filesystem of its own, filled up: writes are
/// refused with 503 and leave nothing behind; once there is room they are
/// taken again, and the ledger still opens to the same graph.
#[tokio::test]
async fn a_full_disk_refuses_writes_cleanly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "note: cannot mount a small tmpfs here (needs root); skipping the disk-full test"
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let url = mnt.join("ledger.db");
    let url = url.to_str().unwrap();
    let body = population(300);
    let all: Vec<&str> = body.lines().collect();
    let (first, rest) = all.split_at(all.len() / 2);
    let reg = std::sync::Arc::new(
        Registry::open(Ledger::open(url).await.unwrap())
            .await
            .unwrap(),
    );
    reg.ingest(&common::numbered(first), "first").await.unwrap();
    let before = (reg.applied_seq(), reg.graph().canonical().digest());

    // Fill the disk.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let app = common::app(reg.clone()).await;
    let post = axum::http::Request::post("/v1/acts")
        .header("content-type", "application/x-ndjson")
        .body(axum::body::Body::from(rest.join("\n")))
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.clone(), post).await.unwrap();
    let status = res.status();
    let retry = res.headers().get("retry-after").cloned();
    let text = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&text);
    assert_eq!(
        status,
        503,
        "{}",
        text.chars().take(400).collect::<String>()
    );
    assert!(
        retry.is_some() && text.contains("database_unavailable"),
        "{text}"
    );
    assert_eq!(
        (reg.applied_seq(), reg.graph().canonical().digest()),
        before
    );

    // Room again: the same records are taken.
    std::fs::remove_file(&filler).unwrap();
    let out = reg.ingest(&common::numbered(rest), "rest").await.unwrap();
    assert!(reg.applied_seq() > before.0, "{out:?}");
    let now = reg.graph().canonical().digest();
    reg.ledger().close().await;
    drop(app);
    let again = Registry::open(Ledger::open(url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        again.graph().canonical().digest(),
        now,
        "the ledger opens to the same graph"
    );
    again.ledger().close().await;
}
