//! Faults, each against a real database: `serve` killed with SIGKILL in
//! the middle of a large `POST /v1/acts`, a SQLite ledger whose disk
//! fills up, and PostgreSQL hanging or unreachable behind a proxy. After each, the ledger and the graph agree, nothing is lost or
//! doubled, and sending again finishes the job.

mod common;

use common::raw::{Reply, free_port, request, wait_ready};
use kinship::generate::{GenerateOptions, generate};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
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

/// Answers given while the database could not take their audit records
/// (SQLite's write lock held by another connection): each record is in the
/// local audit log before its answer goes out, so after `serve` is killed
/// with SIGKILL the next start moves every one into the ledger, and a start
/// after that moves none twice.
#[test]
fn serve_killed_with_audit_records_in_its_log_keeps_each_once() {
    const CHECK: &str = r#"{"owner":"750412301013","applicant":"020115501032","claim":"child"}"#;
    const N: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let url = db.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reg = Registry::open(Ledger::open(&url).await.unwrap())
            .await
            .unwrap();
        let (name, ndjson, _) = &common::fixtures::all()[0];
        reg.ingest(&common::fixtures::lines(ndjson), name)
            .await
            .unwrap();
        reg.ledger().close().await;
        common::authorize_ledger(&url).await;
    });
    let json = [("Content-Type", "application/json")];
    let lookups = |addr| {
        let r = request(
            addr,
            "GET",
            "/v1/persons/020115501032/lookups?limit=500",
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.json());
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["route"] == "POST /v1/checks/kinship")
            .count()
    };

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = serve(&db, addr, &[]);
    wait_ready(addr);
    let mut blocker = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{url}"))
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut c)
            .await
            .unwrap();
        c
    });
    for _ in 0..N {
        let r = request(addr, "POST", "/v1/checks/kinship", &json, CHECK.as_bytes());
        assert_eq!(r.status, 200, "{}", r.json());
        assert_eq!(r.json()["confirmed"], true);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let in_db: i64 = rt.block_on(async {
        let n = sqlx::query_scalar("SELECT count(*) FROM audit")
            .fetch_one(&mut blocker)
            .await
            .unwrap();
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        n
    });
    assert_eq!(in_db, 0, "the records were still only in the log");

    for start in ["after the kill", "once more"] {
        let mut child = serve(&db, addr, &[]);
        wait_ready(addr);
        assert_eq!(lookups(addr), N, "{start}: each answer's record, once");
        child.kill().unwrap();
        child.wait().unwrap();
    }
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
    // An answer whose audit record cannot be written is withheld.
    let spouse: Value = serde_json::from_str(first[1]).unwrap();
    let family = format!(
        "/v1/persons/{}/family",
        spouse["spouses"][0].as_str().unwrap()
    );
    let (status, text) = get(&app, &family).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("audit_unavailable"), "{text}");

    // Room again: the same records are taken.
    std::fs::remove_file(&filler).unwrap();
    let (status, text) = get(&app, &family).await;
    assert_eq!(status, 200, "{text}");
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

async fn get(app: &axum::Router, uri: &str) -> (u16, String) {
    let req = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    let status = res.status().as_u16();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A TCP proxy in front of PostgreSQL that can stop forwarding (a server
/// or network that hangs: bytes are taken and held) or drop every
/// connection (unreachable), and then forward again.
mod proxy {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Mode {
        Forward = 0,
        Hang = 1,
        Refuse = 2,
    }

    pub struct Proxy {
        pub addr: SocketAddr,
        mode: Arc<AtomicU8>,
    }

    fn mode(m: &AtomicU8) -> Mode {
        match m.load(Ordering::Relaxed) {
            0 => Mode::Forward,
            1 => Mode::Hang,
            _ => Mode::Refuse,
        }
    }

    impl Proxy {
        pub async fn start(target: String) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let m = Arc::new(AtomicU8::new(Mode::Forward as u8));
            let mm = m.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if mode(&mm) == Mode::Refuse {
                        continue; // dropped: closed at once
                    }
                    tokio::spawn(pipe(client, target.clone(), mm.clone()));
                }
            });
            Proxy { addr, mode: m }
        }

        pub fn set(&self, m: Mode) {
            self.mode.store(m as u8, Ordering::Relaxed);
        }
    }

    async fn pipe(client: TcpStream, target: String, m: Arc<AtomicU8>) {
        let Ok(server) = TcpStream::connect(&target).await else {
            return;
        };
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let up = tokio::spawn(copy(cr, sw, m.clone()));
        let down = tokio::spawn(copy(sr, cw, m.clone()));
        // Unreachable: every connection is cut, both ways.
        loop {
            if mode(&m) == Mode::Refuse || up.is_finished() || down.is_finished() {
                up.abort();
                down.abort();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn copy(
        mut r: tokio::net::tcp::OwnedReadHalf,
        mut w: tokio::net::tcp::OwnedWriteHalf,
        m: Arc<AtomicU8>,
    ) {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            // Hanging: what was read is held until forwarding resumes.
            while mode(&m) == Mode::Hang {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if w.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}

/// One request through the router, as the test client.
async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (u16, Value, Option<String>) {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v, retry)
}

/// PostgreSQL hanging, then unreachable, then back: kinship checks and
/// families keep coming from memory (names from the cache, or marked
/// unavailable), their audit records wait in the spool; writes and
/// answers that need the ledger get 503 with Retry-After; once the
/// database answers again everything recovers by itself — writes are
/// taken, the spooled audit records reach the ledger, and the graph equals
/// the one the ledger rebuilds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_unreachable_database_keeps_memory_answers_and_recovers() {
    use proxy::{Mode, Proxy};
    let Some(db) = common::TestDb::postgres().await else {
        return;
    };
    let at = db.url.find('@').expect("user@host") + 1;
    let end = at + db.url[at..].find('/').expect("host/db");
    let proxy = Proxy::start(db.url[at..end].to_owned()).await;
    let url = format!("{}{}{}", &db.url[..at], proxy.addr, &db.url[end..]);
    let reg = Arc::new(
        Registry::open(Ledger::open(&url).await.unwrap())
            .await
            .unwrap(),
    );
    let fixtures = common::fixtures::all();
    for (name, ndjson, _) in &fixtures[..2] {
        reg.ingest(&common::fixtures::lines(ndjson), name)
            .await
            .unwrap();
    }
    let spool = tempfile::tempdir().unwrap();
    reg.set_audit_log(Some(spool.path().join("audit-log")));
    let app = common::app(reg.clone()).await;
    const CHECK: &str = r#"{"owner":"750412301013","applicant":"020115501032","claim":"child"}"#;
    // Names of the first family are cached by asking once.
    let (s, before, _) = call(&app, "GET", "/v1/persons/750412301013/family", "").await;
    assert_eq!(s, 200, "{before}");

    for outage in [Mode::Hang, Mode::Refuse] {
        proxy.set(outage);
        let began = Instant::now();
        let (s, v, _) = call(&app, "POST", "/v1/checks/kinship", CHECK).await;
        assert_eq!(
            (s, &v["confirmed"]),
            (200, &Value::Bool(true)),
            "{outage:?}: {v}"
        );
        let (s, v, _) = call(&app, "GET", "/v1/persons/750412301013/family", "").await;
        assert_eq!(s, 200, "{outage:?}: {v}");
        assert_eq!(
            v, before,
            "{outage:?}: the same answer, names from the cache"
        );
        // Never asked for: the family from memory, the names marked.
        let (s, v, _) = call(&app, "GET", "/v1/persons/740220402012/family", "").await;
        assert_eq!(s, 200, "{outage:?}: {v}");
        assert_eq!(v["person"]["name_unavailable"], true, "{v}");
        assert_eq!(v["person"]["name"], Value::Null);
        assert_eq!(v["children"].as_array().unwrap().len(), 2, "{v}");
        // What needs the ledger is refused, with a time to come back.
        let (s, v, retry) = call(&app, "GET", "/v1/persons/750412301013", "").await;
        assert_eq!(s, 503, "{outage:?}: {v}");
        assert!(retry.is_some(), "{outage:?}");
        let record = format!(
            r#"{{"kind":"residence","act_id":"OUT-{}","person":"750412301013","dwelling":"D-9","from":"2020-01-01","type":"permanent"}}"#,
            outage as u8
        );
        let (s, v, retry) = call(&app, "POST", "/v1/acts", &record).await;
        assert_eq!(s, 503, "{outage:?}: {v}");
        assert!(retry.is_some(), "{outage:?}");
        assert!(
            began.elapsed() < Duration::from_secs(40),
            "{outage:?}: took {:?}",
            began.elapsed()
        );
    }

    // Back: writes are taken again without a restart.
    proxy.set(Mode::Forward);
    let record = r#"{"kind":"residence","act_id":"OUT-1","person":"750412301013","dwelling":"D-9","from":"2020-01-01","type":"permanent"}"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v, _) = call(&app, "POST", "/v1/acts", record).await;
        if s == 200 || s == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "writes still refused: {s} {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The checks answered during the outage are in the ledger's audit.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v, _) = call(
            &app,
            "GET",
            "/v1/persons/020115501032/lookups?limit=500",
            "",
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let checks = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["route"] == "POST /v1/checks/kinship")
            .count();
        if checks >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spooled records not moved in: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A write whose commit may have gone through at the deadline is
    // applied by the catch-up of the next write: ledger and graph agree.
    let (s, _, _) = call(
        &app,
        "POST",
        "/v1/acts",
        r#"{"kind":"residence","act_id":"OUT-2","person":"770903401022","dwelling":"D-9","from":"2020-01-01","type":"permanent"}"#,
    )
    .await;
    assert!(s == 200 || s == 201, "{s}");
    let rebuilt = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(reg.graph().canonical(), rebuilt.graph().canonical());
    assert_eq!(reg.applied_seq(), rebuilt.applied_seq());
    rebuilt.ledger().close().await;
    reg.ledger().close().await;
    db.cleanup().await;
}
