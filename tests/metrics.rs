//! `GET /metrics` (Prometheus text), request ids, and JSON logs. One test
//! per process: the metrics recorder is global, so counts are exact only
//! when nothing else in the process sends requests.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestDb;
use http_body_util::BodyExt;

use kinship::ledger::Ledger;
use kinship::registry::Registry;
use std::sync::Arc;
use tower::ServiceExt;

const ACTS: &str = concat!(
    r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    "\n",
    r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125"}"#,
    "\n",
);

async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn post(uri: &str, ctype: &str, body: String) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, ctype)
        .body(Body::from(body))
        .unwrap()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_describe_the_graph() {
    let db = TestDb::sqlite();
    let ledger = Ledger::open(&db.url).await.unwrap();
    let reg = Arc::new(Registry::open(ledger).await.unwrap());
    let app = common::app(reg.clone()).await;

    let (s, _, _) = send(&app, post("/v1/acts", "application/x-ndjson", ACTS.into())).await;
    assert_eq!(s, StatusCode::OK);
    let check = r#"{"owner":"750101400219","applicant":"010305500121","claim":"child"}"#;
    for _ in 0..3 {
        let (s, _, _) = send(
            &app,
            post("/v1/checks/kinship", "application/json", check.into()),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _, _) = send(
        &app,
        post("/v1/checks/kinship", "application/json", "{".into()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let batch = format!("{check}\n{check}\n\nnot json\n{check}");
    let (s, _, _) = send(
        &app,
        post("/v1/checks/kinship:batch", "application/x-ndjson", batch),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = send(
        &app,
        Request::get("/no/such/route").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, h, page) = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{h:?}"
    );

    let req = |route: &str, method: &str, status: u16| {
        format!(
            r#"kinship_http_requests_total{{route="{route}",method="{method}",status="{status}"}}"#
        )
    };
    assert_eq!(
        sample(&page, &req("/v1/checks/kinship", "POST", 200)),
        Some(3.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &req("/v1/checks/kinship", "POST", 400)),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &req("/v1/checks/kinship:batch", "POST", 200)),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &req("/v1/acts", "POST", 200)),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &req("unmatched", "GET", 404)),
        Some(1.0),
        "{page}"
    );
    // Histograms: every answer lands in +Inf, the three checks in a bucket
    // below a second.
    let hist = r#"kinship_http_request_duration_seconds_bucket{route="/v1/checks/kinship",method="POST",status="200""#;
    assert_eq!(
        sample(&page, &format!(r#"{hist},le="+Inf"}}"#)),
        Some(3.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, &format!(r#"{hist},le="1"}}"#)),
        Some(3.0),
        "{page}"
    );
    let count = r#"kinship_http_request_duration_seconds_count{route="/v1/checks/kinship",method="POST",status="200"}"#;
    assert_eq!(sample(&page, count), Some(3.0), "{page}");

    // Lines received, blank ones and bad ones included.
    assert_eq!(
        sample(
            &page,
            r#"kinship_batch_lines_total{route="/v1/checks/kinship:batch"}"#
        ),
        Some(5.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, r#"kinship_batch_lines_total{route="/v1/acts"}"#),
        Some(2.0),
        "{page}"
    );

    let (persons, links) = {
        let g = reg.graph();
        (g.person_count(), g.link_count())
    };
    assert_eq!(persons, 3);
    assert_eq!(
        sample(&page, "kinship_graph_persons"),
        Some(persons as f64),
        "{page}"
    );
    assert_eq!(
        sample(&page, "kinship_graph_links"),
        Some(links as f64),
        "{page}"
    );
    assert_eq!(
        sample(&page, "kinship_ledger_seq_applied"),
        Some(2.0),
        "{page}"
    );
    assert_eq!(sample(&page, "kinship_ready"), Some(1.0), "{page}");
    let idle = sample(&page, r#"kinship_db_pool_connections{state="idle"}"#).expect("pool gauge");
    let busy = sample(&page, r#"kinship_db_pool_connections{state="in_use"}"#).expect("pool gauge");
    assert!(idle + busy >= 1.0, "{page}");
    // No snapshot was loaded or written: no age to tell.
    assert!(!page.contains("kinship_snapshot_age_seconds "), "{page}");

    // Every answer names its request; a caller's own id is kept.
    let (_, h, _) = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    let id = h["x-request-id"].to_str().unwrap().to_owned();
    let (_, h2, _) = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_ne!(h2["x-request-id"], id.as_str(), "ids are unique");
    let mine = Request::get("/healthz")
        .header("x-request-id", "caller-42")
        .body(Body::empty())
        .unwrap();
    let (_, h3, _) = send(&app, mine).await;
    assert_eq!(h3["x-request-id"], "caller-42");
    db.cleanup().await;
}

/// `--log-format json` writes one JSON object per log line.
#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acts.ndjson");
    std::fs::write(&file, ACTS).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinship"))
        .args(["--log-format", "json", "import"])
        .arg(&file)
        .arg("--db")
        .arg(dir.path().join("l.db"))
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!logs.is_empty(), "no JSON log lines");
    for l in &logs {
        assert!(l["level"].is_string() && l["fields"].is_object(), "{l}");
    }
}
