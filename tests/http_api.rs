//! The HTTP API driven through the router (no socket), on SQLite and
//! PostgreSQL: POST /v1/acts, GET /v1/refused, readiness, problem+json.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Backend, TestDb};
use http_body_util::BodyExt;
use kinship::http::{AppState, SEQ_HEADER, router};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, Option<String>, Option<String>, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let seq = res
        .headers()
        .get(SEQ_HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, ctype, seq, body)
}

fn post(uri: &str, ctype: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, ctype)
        .body(body.into())
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

const BODY: &str = concat!(
    r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    "\n",
    r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125"}"#,
    "\n\n",
    r#"{"kind":"birth","act_id":"X-1","date":"2001-03-09","child":"010305500124"}"#,
    "\n",
    r#"{"kind":"divorce","act_id":"R-2006-0003","date":"2006-11-02","marriage_act":"M-1998-0001"}"#,
    "\n"
);

async fn acts_endpoint(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let reg = Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    let app = common::app(reg.clone()).await;

    let (status, _, seq, body) = call(&app, post("/v1/acts", "application/x-ndjson", BODY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seq.as_deref(), Some("3"));
    assert_eq!(
        body,
        json!({"accepted": 3, "duplicates": 0, "rejected": [
            {"line": 4, "act_id": "X-1", "code": "invalid_iin", "detail": "field child: check digit is 4, expected 1"}
        ]})
    );

    // The same body again accepts nothing: every accepted record is a duplicate.
    let (_, _, _, body) = call(&app, post("/v1/acts", "application/x-ndjson", BODY)).await;
    assert_eq!(body["accepted"], 0);
    assert_eq!(body["duplicates"], 3);
    assert_eq!(body["rejected"].as_array().unwrap().len(), 1);

    // One pretty-printed JSON act.
    let one = serde_json::to_string_pretty(&json!({
        "kind": "death", "act_id": "D-2019-0004", "date": "2019-01-15", "person": "720415300125"
    }))
    .unwrap();
    let (status, _, seq, body) = call(&app, post("/v1/acts", "application/json", one)).await;
    assert_eq!((status, seq.as_deref()), (StatusCode::OK, Some("4")));
    assert_eq!(
        body,
        json!({"accepted": 1, "duplicates": 0, "rejected": []})
    );

    // Refused records are listed, paginated.
    let (status, _, _, page) = call(&app, get("/v1/refused?limit=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["code"], "invalid_iin");
    assert_eq!(page["items"][0]["line"], 4);
    let next = page["next_after"].as_i64().unwrap();
    let (_, _, _, page2) = call(&app, get(&format!("/v1/refused?after={next}&limit=1"))).await;
    assert_eq!(
        page2["items"][0]["code"], "invalid_iin",
        "the second sending's refusal"
    );
    let (_, _, _, page3) = call(
        &app,
        get(&format!("/v1/refused?after={}", page2["items"][0]["id"])),
    )
    .await;
    assert_eq!(page3, json!({"items": [], "next_after": null}));

    let (status, ctype, _, problem) = call(&app, get("/v1/refused?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert_eq!(problem["code"], "invalid_parameter");
    assert!(problem["detail"].as_str().unwrap().contains("limit"));
    let (status, _, _, problem) = call(&app, get("/v1/refused?code=nonsense")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
    );

    reg.ledger().close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn acts_endpoint_sqlite() {
    acts_endpoint(Backend::Sqlite).await;
}

#[tokio::test]
async fn acts_endpoint_postgres() {
    acts_endpoint(Backend::Postgres).await;
}

#[tokio::test]
async fn not_ready_until_the_graph_is_built() {
    let state = AppState::default();
    let app = router(state.clone());
    let (status, _, _, body) = call(&app, get("/healthz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, ctype, _, body) = call(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "not_ready");
    let (status, _, _, body) = call(&app, post("/v1/acts", "application/x-ndjson", BODY)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready"))
    );

    let db = TestDb::sqlite();
    state.set_ready(Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    ));
    let (status, _, seq, body) = call(&app, get("/readyz")).await;
    assert_eq!((status, seq.as_deref()), (StatusCode::OK, Some("0")));
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn unknown_routes_are_problems() {
    let app = router(AppState::default());
    let (status, ctype, _, body) = call(&app, get("/v1/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn a_large_ndjson_body_streams_in_batches() {
    let db = TestDb::sqlite();
    let reg = Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    let app = common::app(reg.clone()).await;
    // 2,500 residence records: more than two batches.
    let mut body = String::new();
    for i in 0..2500 {
        body.push_str(&format!(
            r#"{{"kind":"residence","act_id":"REG-{i}","person":"720415300125","dwelling":"D-{i}","from":"2001-01-01","type":"temporary"}}"#
        ));
        body.push('\n');
    }
    let (status, _, seq, out) = call(&app, post("/v1/acts", "application/x-ndjson", body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (out["accepted"].as_u64(), seq.as_deref()),
        (Some(2500), Some("2500"))
    );
}
