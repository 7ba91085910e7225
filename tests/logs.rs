//! No personal data in any log line, at any level: the HTTP suite of the
//! fixture families (checks, family, relatives, household), the staff and
//! audit routes and their refusals are run with every log captured at
//! `trace`, and the capture is searched for every IIN and surname used.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{Backend, TestDb, fixtures};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every IIN and surname in the fixture files.
fn personal_data() -> (Vec<String>, Vec<String>) {
    let mut iins = Vec::new();
    let mut surnames = Vec::new();
    for (_, ndjson, _) in fixtures::all() {
        let text = std::fs::read(&ndjson).unwrap();
        let mut found = Vec::new();
        kinship::iin::Iin::scan(&text, &mut found);
        iins.extend(found.iter().map(|i| i.to_string()));
        for line in String::from_utf8_lossy(&text).lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(s) = v.pointer("/name/surname").and_then(|s| s.as_str())
            {
                surnames.push(s.to_owned());
            }
        }
    }
    iins.sort();
    iins.dedup();
    surnames.sort();
    surnames.dedup();
    (iins, surnames)
}

async fn exercise(backend: Backend) {
    let mut fails = Vec::new();
    for (name, ndjson, expect) in fixtures::all() {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        fails.extend(fixtures::check_family_http(&db.url, &name, &ndjson, &expect).await);
        db.cleanup().await;
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));

    // The staff and audit routes, and refusals, over the first family.
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let reg = Arc::new(
        kinship::registry::Registry::open(kinship::ledger::Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    let (_, first, _) = &fixtures::all()[0];
    let body = std::fs::read(first).unwrap();
    let app = common::app(reg.clone()).await;
    let post = |uri: &str, b: Vec<u8>| Request::post(uri).body(Body::from(b)).unwrap();
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let mut found = Vec::new();
    kinship::iin::Iin::scan(&body, &mut found);
    let iin = found[0].to_string();
    let requests = vec![
        post("/v1/acts", body.clone()),
        post("/v1/acts", body.clone()), // duplicates
        get(&format!("/v1/persons/{iin}")),
        get(&format!("/v1/persons/{iin}/relatives")),
        get(&format!("/v1/persons/{iin}/lookups")),
        get("/v1/refused"),
        get("/v1/acts/F01-B-2002-1"),
        get(&format!("/v1/persons/{}/family", found[1])),
        get(&format!("/v1/relations?a={iin}&b={}", found[1])),
        get(&format!("/v1/persons/{iin}/gedcom?degree=2")),
        get(&format!("/v1/persons/{iin}/graph?degree=2")),
        get("/v1/quality"),
        // Refusals that carry IINs the caller sent.
        post(
            "/v1/checks/kinship",
            format!(r#"{{"owner":"{iin}","applicant":"{}","claim":"cousin"}}"#, found[1]).into_bytes(),
        ),
        post(
            "/v1/acts",
            format!(r#"{{"kind":"birth","act_id":"X-1","date":"2001-01-01","child":"{iin}","mother":"{}"}}"#, found[1]).into_bytes(),
        ),
        Request::get(format!("/v1/persons/{iin}/family"))
            .header("authorization", "Bearer kin_not-a-key-of-anyone-at-all-0000000")
            .body(Body::empty())
            .unwrap(),
    ];
    for r in requests {
        let res = app.clone().oneshot(r).await.unwrap();
        let _ = http_body_util::BodyExt::collect(res.into_body()).await;
    }
    reg.ledger().close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn no_log_line_names_a_person() {
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(|| Capture)
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test binary");
    exercise(Backend::Sqlite).await;
    exercise(Backend::Postgres).await;
    let (iins, surnames) = personal_data();
    // A control: a line that does name a person must be found.
    tracing::trace!(probe = %iins[0], "control line");
    let logs = String::from_utf8_lossy(&CAPTURED.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 1000,
        "the capture holds the trace logs ({} lines)",
        logs.lines().count()
    );
    for expected in [
        "INSERT INTO",
        "POST",
        "/v1/checks/kinship",
        "DEBUG",
        "TRACE",
    ] {
        assert!(logs.contains(expected), "the capture has no {expected:?}");
    }
    assert!(iins.len() > 20 && !surnames.is_empty());
    let mut leaks = Vec::new();
    for line in logs.lines() {
        if let Some(p) = iins
            .iter()
            .chain(&surnames)
            .find(|p| line.contains(p.as_str()))
        {
            leaks.push(format!(
                "{p}: {}",
                line.chars().take(300).collect::<String>()
            ));
        }
    }
    let control = leaks.iter().position(|l| l.contains("control line"));
    assert!(
        control.is_some(),
        "the search finds a line that names a person"
    );
    leaks.remove(control.unwrap());
    assert!(
        leaks.is_empty(),
        "{} log lines name a person, e.g.:\n{}",
        leaks.len(),
        leaks
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
