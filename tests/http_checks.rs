//! The callers' endpoints beyond the fixture statements: request errors,
//! `also`, details, batches (including 100,000 lines), family, household
//! relations, person cards and acts — on SQLite and PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Backend, TestDb};
use http_body_util::BodyExt;
use kinship::http::SEQ_HEADER;
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

// H 720415300125 husband, W 750101400219 wife (renamed on marriage),
// C 010305500121 and D 050202500017 their sons, K 101010600017 W's daughter
// with no father recorded, U 660606300010 a stranger known by a residence.
const FAMILY: &str = r#"{"kind":"birth","act_id":"B-1975-1","date":"1975-01-05","child":"750101400219","name":{"surname":"Сейткали","given":"Айгуль"}}
{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}
{"kind":"name_change","act_id":"N-1998-1","date":"1998-06-20","person":"750101400219","name":{"surname":"Ахметова","given":"Айгуль"}}
{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125","name":{"surname":"Ахметов","given":"Ерлан","patronymic":"Маратович"}}
{"kind":"birth","act_id":"B-2005-7","date":"2005-02-10","child":"050202500017","mother":"750101400219","father":"720415300125"}
{"kind":"birth","act_id":"B-2010-9","date":"2010-10-15","child":"101010600017","mother":"750101400219"}
{"kind":"residence","act_id":"REG-1","person":"720415300125","dwelling":"21:320:045:112:17","from":"2000-01-10"}
{"kind":"residence","act_id":"REG-2","person":"010305500121","dwelling":"21:320:045:112:17","from":"2001-04-01"}
{"kind":"residence","act_id":"REG-3","person":"660606300010","dwelling":"21:320:045:112:17","from":"2015-01-01","type":"temporary"}
"#;

struct Api {
    app: axum::Router,
    reg: Arc<Registry>,
    db: TestDb,
}

impl Api {
    async fn new(backend: Backend) -> Option<Api> {
        let db = TestDb::new(backend).await?;
        let reg = Arc::new(
            Registry::open(Ledger::open(&db.url).await.unwrap())
                .await
                .unwrap(),
        );
        let app = common::app(reg.clone()).await;
        let api = Api { app, reg, db };
        let (s, _, body) = api
            .send(Request::post("/v1/acts").body(Body::from(FAMILY)).unwrap())
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body["accepted"], 9, "{body}");
        Some(api)
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, headers, body)
    }

    async fn check(&self, req: Value) -> (StatusCode, Value) {
        let (s, h, b) = self
            .send(
                Request::post("/v1/checks/kinship")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(req.to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(
            h.get(SEQ_HEADER).unwrap(),
            "9",
            "every answer carries the ledger seq"
        );
        (s, b)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, h, b) = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        assert!(h.contains_key(SEQ_HEADER), "{uri} lacks {SEQ_HEADER}");
        (s, b)
    }

    async fn batch(&self, uri: &str, body: String) -> Vec<Value> {
        let (s, _, _) = (StatusCode::OK, (), ());
        let res = self
            .app
            .clone()
            .oneshot(Request::post(uri).body(Body::from(body)).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), s);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/x-ndjson");
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    async fn done(self) {
        self.reg.ledger().close().await;
        self.db.cleanup().await;
    }
}

async fn checks(backend: Backend) {
    let Some(api) = Api::new(backend).await else {
        return;
    };
    let h = "720415300125";
    let w = "750101400219";
    let c = "010305500121";
    let d = "050202500017";
    let k = "101010600017";

    // A confirmed half-sibling claim says they are full siblings too.
    let (s, b) = api.check(json!({"owner": c, "applicant": d, "claim": "half_sibling", "via": "mother", "as_of": "2020-01-01"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["confirmed"], true);
    assert_eq!(b["relation"], "half_sibling");
    assert_eq!(b["evidence"], json!(["B-2001-0002", "B-2005-7"]));
    assert_eq!(b["detail"], "both birth records name mother 750101400219");
    assert_eq!(b["reason"], Value::Null);
    let also: Vec<String> = b["also"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert!(
        also.contains(&json!({"claim": "sibling"}).to_string()),
        "{also:?}"
    );
    assert!(
        also.contains(&json!({"claim": "half_sibling", "via": "father"}).to_string()),
        "{also:?}"
    );

    // A sibling claim where one has no father: the missing record is named.
    let (_, b) = api
        .check(json!({"owner": c, "applicant": k, "claim": "sibling", "as_of": "2020-01-01"}))
        .await;
    assert_eq!(
        (b["confirmed"].as_bool(), b["reason"].as_str()),
        (Some(false), Some("parent_not_recorded"))
    );
    assert_eq!(
        b["detail"],
        "birth record B-2010-9 of 1010…0017 names no father; that record needs to be brought up to date"
    );
    assert_eq!(
        b["also"],
        json!([{"claim": "half_sibling", "via": "mother"}])
    );
    assert_eq!(b["relation"], Value::Null);

    // The husband claiming K as his child: the same missing father.
    let (_, b) = api
        .check(json!({"owner": h, "applicant": k, "claim": "child", "as_of": "2020-01-01"}))
        .await;
    assert_eq!(b["reason"], "parent_not_recorded");
    // ... and she is his wife's daughter: a relative by marriage.
    let (_, b) = api
        .check(json!({"owner": h, "applicant": k, "claim": "in_law", "as_of": "2020-01-01"}))
        .await;
    assert_eq!(
        (b["confirmed"].as_bool(), b["relation"].as_str()),
        (Some(true), Some("spouse_child"))
    );
    assert_eq!(b["evidence"], json!(["M-1998-0001", "B-2010-9"]));

    // as_of defaults to today and is always said.
    let (_, b) = api
        .check(json!({"owner": h, "applicant": w, "claim": "spouse"}))
        .await;
    assert_eq!(b["as_of"], kinship::calendar::today().to_string());
    assert_eq!(b["confirmed"], true);
    let (_, b) = api
        .check(json!({"owner": h, "applicant": w, "claim": "spouse", "as_of": "1998-06-19"}))
        .await;
    assert_eq!(b["reason"], "not_married");
    let (_, b) = api
        .check(json!({"owner": h, "applicant": "850312300121", "claim": "spouse"}))
        .await;
    assert_eq!(b["reason"], "applicant_unknown");

    // Request errors: 400 problem+json with a stable code naming the field.
    let bad: &[(Value, &str, &str)] = &[
        (
            json!({"owner": h, "applicant": w}),
            "missing_field",
            "field claim",
        ),
        (
            json!({"owner": "7204153001", "applicant": w, "claim": "spouse"}),
            "invalid_iin",
            "field owner",
        ),
        (
            json!({"owner": h, "applicant": "720415300124", "claim": "spouse"}),
            "invalid_iin",
            "check digit",
        ),
        (
            json!({"owner": h, "applicant": w, "claim": "cousin"}),
            "unknown_claim",
            "field claim",
        ),
        (
            json!({"owner": h, "applicant": w, "claim": "grandchild"}),
            "via_required",
            "field via",
        ),
        (
            json!({"owner": h, "applicant": w, "claim": "spouse", "via": "mother"}),
            "via_not_applicable",
            "field via",
        ),
        (
            json!({"owner": h, "applicant": w, "claim": "grandparent", "via": "uncle"}),
            "invalid_via",
            "field via",
        ),
        (
            json!({"owner": h, "applicant": w, "claim": "spouse", "as_of": "2020-02-30"}),
            "invalid_date",
            "field as_of",
        ),
        (
            json!({"owner": h, "applicant": w, "claim": "spouse", "purpose": "x"}),
            "unknown_field",
            "field purpose",
        ),
        (json!([1]), "malformed_json", "object"),
    ];
    for (req, code, field) in bad {
        let (s, b) = api.check(req.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{req}");
        assert_eq!(b["code"], *code, "{req}: {b}");
        assert!(b["detail"].as_str().unwrap().contains(field), "{req}: {b}");
        assert_eq!(b["status"], 400);
    }
    let (s, _, b) = api
        .send(
            Request::post("/v1/checks/kinship")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    // A body far over the size of a check: refused as problem+json.
    let huge = format!(r#"{{"owner":"{}"}}"#, "7".repeat(3 << 20));
    let (s, headers, b) = api
        .send(
            Request::post("/v1/checks/kinship")
                .body(Body::from(huge))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")),
        "{b}"
    );
    assert_eq!(headers["content-type"], "application/problem+json");
    let (s, _, b) = api
        .send(
            Request::get("/v1/checks/kinship")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );

    // Batch: answers in order; a bad line is an error line, the batch goes on.
    let lines = [
        json!({"owner": h, "applicant": c, "claim": "child", "as_of": "2020-01-01"}).to_string(),
        String::new(),
        "{oops".to_owned(),
        json!({"owner": c, "applicant": h, "claim": "parent", "as_of": "2020-01-01"}).to_string(),
        json!({"owner": c, "applicant": h, "claim": "nephew"}).to_string(),
    ];
    let out = api
        .batch("/v1/checks/kinship:batch", lines.join("\n"))
        .await;
    assert_eq!(out.len(), 4);
    assert_eq!(
        (
            out[0]["confirmed"].as_bool(),
            out[0]["evidence"][0].as_str()
        ),
        (Some(true), Some("B-2001-0002"))
    );
    assert_eq!(
        (out[1]["line"].as_u64(), out[1]["error"]["code"].as_str()),
        (Some(3), Some("malformed_json"))
    );
    assert_eq!(out[2]["confirmed"], true);
    assert_eq!(
        (out[3]["line"].as_u64(), out[3]["error"]["code"].as_str()),
        (Some(5), Some("unknown_claim"))
    );

    api.done().await;
}

#[tokio::test]
async fn checks_sqlite() {
    checks(Backend::Sqlite).await;
}

#[tokio::test]
async fn checks_postgres() {
    checks(Backend::Postgres).await;
}

async fn family_and_household(backend: Backend) {
    let Some(api) = Api::new(backend).await else {
        return;
    };
    let (s, b) = api
        .get("/v1/persons/750101400219/family?as_of=2012-01-01")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["as_of"], "2012-01-01");
    assert_eq!(
        b["person"]["name"],
        json!({"surname": "Ахметова", "given": "Айгуль"}),
        "the name in force"
    );
    assert_eq!(b["person"]["sex"], "female");
    assert_eq!(b["married"], true);
    assert_eq!(b["spouse"]["iin"], "720415300125");
    assert_eq!(b["spouse"]["marriage_act"], "M-1998-0001");
    assert_eq!(b["spouse"]["since"], "1998-06-20");
    let kids: Vec<(&str, bool, &str)> = b["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["iin"].as_str().unwrap(),
                c["minor"].as_bool().unwrap(),
                c["basis"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kids,
        vec![
            ("010305500121", true, "birth"),
            ("050202500017", true, "birth"),
            ("101010600017", true, "birth")
        ]
    );
    assert_eq!(b["children"][0]["name"]["given"], "Ерлан");
    assert_eq!(b["children"][0]["evidence"], json!(["B-2001-0002"]));
    // Before the marriage she had her birth name.
    let (_, b) = api
        .get("/v1/persons/750101400219/family?as_of=1997-01-01")
        .await;
    assert_eq!(b["person"]["name"]["surname"], "Сейткали");
    assert_eq!(
        (
            b["married"].as_bool(),
            b["children"].as_array().unwrap().len()
        ),
        (Some(false), 0)
    );
    // An adult child is not a minor.
    let (_, b) = api
        .get("/v1/persons/720415300125/family?as_of=2020-01-01")
        .await;
    assert_eq!(b["children"][0]["minor"], false);

    let (s, b) = api.get("/v1/persons/850312300121/family").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("person_unknown"))
    );
    let (s, b) = api.get("/v1/persons/12345/family").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_iin"))
    );
    let (s, b) = api
        .get("/v1/persons/720415300125/family?as_of=tomorrow")
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_date"))
    );

    let out = api
        .batch(
            "/v1/family:batch",
            [
                json!({"iin": "720415300125", "as_of": "2020-01-01"}).to_string(),
                json!({"iin": "850312300121"}).to_string(),
                json!({"iin": "010305500121", "as_of": "2020-01-01"}).to_string(),
            ]
            .join("\n"),
        )
        .await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["spouse"]["iin"], "750101400219");
    assert_eq!(out[1]["error"]["code"], "person_unknown");
    assert_eq!(out[2]["person"]["name"]["given"], "Ерлан");

    let (s, b) = api
        .get("/v1/dwellings/21:320:045:112:17/household?as_of=2020-01-01&owner=720415300125")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["registered"], 3);
    let rel: Vec<(&str, &str, Value)> = b["residents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["iin"].as_str().unwrap(),
                r["type"].as_str().unwrap(),
                r["relations_to_owner"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rel,
        vec![
            ("720415300125", "permanent", json!([])),
            // By the table's letter he is also his wife's child (in_law), but
            // between a parent and child that is noise and is left out.
            ("010305500121", "permanent", json!(["child"])),
            ("660606300010", "temporary", json!([])),
        ]
    );
    let (_, b) = api
        .get("/v1/dwellings/21:320:045:112:17/household?as_of=2010-01-01")
        .await;
    assert_eq!(b["registered"], 2);
    assert!(
        b["residents"][0].get("relations_to_owner").is_none(),
        "only with owner"
    );

    // Staff: the person card and an act.
    let (s, b) = api.get("/v1/persons/750101400219").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["names"].as_array().unwrap().len(), 2);
    assert_eq!(b["names"][1]["since"], "1998-06-20");
    let acts: Vec<&str> = b["acts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["act_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        acts,
        vec![
            "B-1975-1",
            "M-1998-0001",
            "N-1998-1",
            "B-2001-0002",
            "B-2005-7",
            "B-2010-9"
        ]
    );
    let (s, b) = api.get("/v1/acts/M-1998-0001").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (b["kind"].as_str(), b["seq"].as_i64()),
        (Some("marriage"), Some(2))
    );
    assert_eq!(b["act"]["spouses"], json!(["720415300125", "750101400219"]));
    assert_eq!(b["annulled_by"], Value::Null);
    let (s, b) = api.get("/v1/acts/NOPE").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("act_unknown"))
    );

    let (s, b) = api
        .get("/v1/persons/720415300125/relatives?as_of=2020-01-01")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["spouse"]["iin"], "750101400219");
    assert_eq!(b["children"].as_array().unwrap().len(), 2);
    assert_eq!(
        b["in_laws"],
        json!([{"iin": "101010600017", "relation": "spouse_child", "evidence": ["M-1998-0001", "B-2010-9"]}])
    );
    let (_, b) = api
        .get("/v1/persons/010305500121/relatives?as_of=2020-01-01")
        .await;
    assert_eq!(b["siblings"][0]["iin"], "050202500017");
    assert_eq!(b["half_siblings"][0]["iin"], "101010600017");
    assert_eq!(b["half_siblings"][0]["via"], "mother");

    // A write is visible at once, and the header says so.
    let (_, h, _) = api
        .send(
            Request::post("/v1/acts")
                .body(Body::from(r#"{"kind":"divorce","act_id":"R-2015-1","date":"2015-05-05","marriage_act":"M-1998-0001"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(h[SEQ_HEADER], "10");
    let (_, b) = api
        .get("/v1/persons/720415300125/family?as_of=2020-01-01")
        .await;
    assert_eq!(b["married"], false);
    api.done().await;
}

#[tokio::test]
async fn family_and_household_sqlite() {
    family_and_household(Backend::Sqlite).await;
}

#[tokio::test]
async fn family_and_household_postgres() {
    family_and_household(Backend::Postgres).await;
}

#[tokio::test]
async fn a_batch_of_100000_lines_streams_through() {
    let Some(api) = Api::new(Backend::Sqlite).await else {
        return;
    };
    let line = json!({"owner": "720415300125", "applicant": "010305500121", "claim": "child", "as_of": "2020-01-01"}).to_string();
    let mut body = String::with_capacity(100_000 * (line.len() + 1));
    for _ in 0..100_000 {
        body.push_str(&line);
        body.push('\n');
    }
    let out = api.batch("/v1/checks/kinship:batch", body).await;
    assert_eq!(out.len(), 100_000);
    assert!(out.iter().all(|o| o["confirmed"] == true));
    api.done().await;
}
