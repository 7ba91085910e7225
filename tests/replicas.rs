//! Two `kinship serve` replicas over one PostgreSQL ledger, as separate
//! processes on loopback ports: a record written through one is answered
//! by the other (within a second, and at once with `X-Min-Ledger-Seq`);
//! writers racing on one act id, or on contradictory marriages, end with
//! one record accepted and the other refused, and with identical graphs;
//! a replica that restarts loads its snapshot and catches up.
//!
//! Needs `KINSHIP_TEST_PG`; skipped (and says so) without it.

mod common;

use chrono::NaiveDate;
use common::TestDb;
use common::raw::{Reply, free_port, request, wait_ready};
use kinship::iin::{Iin, Sex};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Replica {
    child: Child,
    addr: SocketAddr,
    url: String,
    snapshots: PathBuf,
}

impl Replica {
    fn start(url: &str, snapshots: &Path) -> Replica {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kinship"))
            .args(["serve", "--db", url, "--listen", &addr.to_string()])
            .args(["--shutdown-grace", "2", "--snapshot-dir"])
            .arg(snapshots)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let r = Replica {
            child,
            addr,
            url: url.to_owned(),
            snapshots: snapshots.to_owned(),
        };
        wait_ready(addr);
        r
    }

    fn post(&self, path: &str, ctype: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut h = vec![("Content-Type", ctype)];
        h.extend_from_slice(headers);
        request(self.addr, "POST", path, &h, body.as_bytes())
    }

    /// Writes one act; (its outcome as `POST /v1/acts` tells it, the seq).
    fn write(&self, act: &Value) -> (Value, i64) {
        let r = self.post("/v1/acts", "application/json", &act.to_string(), &[]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        (r.json(), seq_of(&r))
    }

    fn check(&self, owner: Iin, applicant: Iin, claim: &str, min_seq: Option<i64>) -> Reply {
        let body = json!({"owner": owner.to_string(), "applicant": applicant.to_string(),
            "claim": claim, "as_of": "2020-01-01"});
        let min = min_seq.map(|s| s.to_string());
        let headers: Vec<(&str, &str)> = min
            .iter()
            .map(|s| ("X-Min-Ledger-Seq", s.as_str()))
            .collect();
        self.post(
            "/v1/checks/kinship",
            "application/json",
            &body.to_string(),
            &headers,
        )
    }

    fn seq(&self) -> i64 {
        let r = request(self.addr, "GET", "/readyz", &[], b"");
        assert_eq!(r.status, 200);
        r.json()["ledger_seq"].as_i64().unwrap()
    }

    fn digest(&self) -> (i64, String) {
        let r = request(self.addr, "GET", "/v1/graph/digest", &[], b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        (
            v["ledger_seq"].as_i64().unwrap(),
            v["digest"].as_str().unwrap().to_owned(),
        )
    }

    /// SIGTERM, and wait for the exit (which writes a snapshot).
    fn stop(mut self) -> PathBuf {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let began = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                assert!(s.success(), "replica exited with {s}");
                break;
            }
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "replica did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::mem::take(&mut self.snapshots)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn seq_of(r: &Reply) -> i64 {
    r.header("x-ledger-seq")
        .expect("X-Ledger-Seq")
        .parse()
        .unwrap()
}

fn person(year: i32, sex: Sex, serial: u16) -> Iin {
    Iin::compose(NaiveDate::from_ymd_opt(year, 1, 1).unwrap(), sex, serial).unwrap()
}

fn marriage(id: &str, a: Iin, b: Iin) -> Value {
    json!({"kind": "marriage", "act_id": id, "date": "2000-06-01",
        "spouses": [a.to_string(), b.to_string()]})
}

/// Both replicas at the ledger's last seq, with their digests.
fn settled(a: &Replica, b: &Replica, last: i64) -> ((i64, String), (i64, String)) {
    let began = Instant::now();
    while a.seq() < last || b.seq() < last {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "replicas never reached seq {last}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (a.digest(), b.digest())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_follow_one_ledger_race_to_one_answer_and_catch_up() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // The schema first, so the two starts do not race to migrate it.
    Ledger::open(&db.url).await.unwrap().close().await;
    common::authorize_ledger(&db.url).await;
    let dirs = tempfile::tempdir().unwrap();
    let (url, da, dbb) = (db.url.clone(), dirs.path().join("a"), dirs.path().join("b"));
    let outcome = tokio::task::spawn_blocking(move || {
        let a = Replica::start(&url, &da);
        let b = Replica::start(&url, &dbb);

        // 1. Written via A, answered by B: at once when B is told the seq…
        let (h, w) = (person(1970, Sex::Male, 1), person(1972, Sex::Female, 2));
        let (out, seq) = a.write(&marriage("M-1", h, w));
        assert_eq!(out["accepted"], 1, "{out}");
        let r = b.check(h, w, "spouse", Some(seq));
        assert_eq!(r.status, 200);
        assert!(seq_of(&r) >= seq);
        assert_eq!(r.json()["confirmed"], true, "{}", r.json());
        // …and within a second when it is not.
        let child = person(2001, Sex::Female, 3);
        let birth = json!({"kind": "birth", "act_id": "B-1", "date": "2001-01-01",
            "child": child.to_string(), "mother": w.to_string(), "father": h.to_string()});
        let (_, seq) = a.write(&birth);
        let written = Instant::now();
        while b.check(w, child, "child", None).json()["confirmed"] != true {
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "B did not follow within 1 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(b.seq() >= seq);
        // A seq no one has written: B waits, then says it is behind.
        let r = b.check(h, w, "spouse", Some(seq + 1000));
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["code"], "ledger_behind");
        assert_eq!(r.header("retry-after"), Some("1"));
        let r = b.check(h, w, "spouse", Some(-1));
        assert_eq!(r.status, 200, "an old seq is seen already");
        let r = b.post(
            "/v1/checks/kinship",
            "application/json",
            "{}",
            &[("X-Min-Ledger-Seq", "x")],
        );
        assert_eq!(
            (r.status, r.json()["code"].clone()),
            (400, json!("invalid_min_seq"))
        );

        // 2. Racing writers: the same act id with two contents, and one
        // man marrying two women at once, through A and B together.
        let rounds = 12u16;
        std::thread::scope(|s| {
            for i in 0..rounds {
                let man = person(1980, Sex::Male, 100 + i);
                let (w1, w2) = (
                    person(1981, Sex::Female, 200 + i),
                    person(1982, Sex::Female, 300 + i),
                );
                let same_id = (
                    marriage(&format!("M-R{i}"), man, w1),
                    marriage(&format!("M-R{i}"), man, w2),
                );
                let man2 = person(1963, Sex::Male, 400 + i);
                let (w3, w4) = (
                    person(1964, Sex::Female, 500 + i),
                    person(1965, Sex::Female, 600 + i),
                );
                let bigamy = (
                    marriage(&format!("M-X{i}"), man2, w3),
                    marriage(&format!("M-Y{i}"), man2, w4),
                );
                for (via_a, via_b, refusal) in [
                    (same_id.0, same_id.1, "act_id_conflict"),
                    (bigamy.0, bigamy.1, "already_married"),
                ] {
                    let (a, b) = (&a, &b);
                    let ta = s.spawn(move || a.write(&via_a).0);
                    let tb = s.spawn(move || b.write(&via_b).0);
                    let (oa, ob) = (ta.join().unwrap(), tb.join().unwrap());
                    let accepted =
                        oa["accepted"].as_i64().unwrap() + ob["accepted"].as_i64().unwrap();
                    assert_eq!(accepted, 1, "exactly one of two racing records: {oa} {ob}");
                    let refused: Vec<&Value> = [&oa, &ob]
                        .into_iter()
                        .flat_map(|o| o["rejected"].as_array().unwrap())
                        .collect();
                    assert_eq!(refused.len(), 1, "{oa} {ob}");
                    assert_eq!(refused[0]["code"], refusal, "{oa} {ob}");
                }
            }
        });
        let last = 2 + 2 * i64::from(rounds);
        let (da, db_) = settled(&a, &b, last);
        assert_eq!(da, db_, "the replicas hold different graphs");
        assert_eq!(da.0, last);

        // 3. B stops (writing its snapshot), A writes on, B restarts and
        // catches up from its snapshot and the ledger after it.
        let snaps = b.stop();
        assert!(
            std::fs::read_dir(&snaps).unwrap().next().is_some(),
            "no snapshot at shutdown"
        );
        let late = person(1960, Sex::Male, 700);
        let (out, seq) = a.write(&marriage("M-LATE", late, person(1961, Sex::Female, 701)));
        assert_eq!(out["accepted"], 1, "{out}");
        let b = Replica::start(&a.url, &snaps);
        assert_eq!(b.seq(), seq, "restarted replica did not catch up");
        let (da, db_) = settled(&a, &b, seq);
        assert_eq!(da, db_);
        da
    })
    .await;
    let (seq, digest) = match outcome {
        Ok(d) => d,
        Err(e) => {
            db.cleanup().await;
            std::panic::resume_unwind(e.into_panic());
        }
    };
    // The ledger rebuilt from scratch gives that very graph.
    let fresh = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(fresh.applied_seq(), seq);
    assert_eq!(
        format!("{:016x}", fresh.graph().canonical().digest()),
        digest
    );
    fresh.ledger().close().await;
    db.cleanup().await;
}
