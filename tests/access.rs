//! Clients, scopes, purposes and the audit, through the router (no socket),
//! on SQLite and PostgreSQL: who may ask, what they must say, and that
//! every answer about a person is listed where the person can see it.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Backend, TEST_KEY, TestDb};
use http_body_util::BodyExt;
use kinship::access::{Scope, Scopes};
use kinship::http::{AppState, router};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

async fn call(app: &axum::Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// A request with exactly the given credential and purpose headers.
fn req(
    method: &str,
    uri: &str,
    auth: Option<&str>,
    purpose: Option<&str>,
    body: &str,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = auth {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    if let Some(p) = purpose {
        b = b.header("x-purpose", p);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

const FAMILY: &str = concat!(
    r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    "\n",
    r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125"}"#,
    "\n",
);
const CHECK: &str = r#"{"owner":"720415300125","applicant":"010305500121","claim":"child"}"#;

async fn registry(url: &str) -> Arc<Registry> {
    let reg = Arc::new(
        Registry::open(Ledger::open(url).await.unwrap())
            .await
            .unwrap(),
    );
    let lines: Vec<&str> = FAMILY.lines().collect();
    reg.ingest(&common::numbered(&lines), "test").await.unwrap();
    reg
}

/// The app with no credential added: each request says who it is.
async fn bare(reg: &Arc<Registry>) -> axum::Router {
    common::authorize(reg).await;
    router(AppState::ready(reg.clone()))
}

/// The check `CHECK`, sent with exactly this credential and purpose.
async fn check(app: &axum::Router, key: Option<&str>, purpose: Option<&str>) -> Answer {
    call(app, req("POST", "/v1/checks/kinship", key, purpose, CHECK)).await
}

async fn lookups(app: &axum::Router, iin: &str, query: &str) -> Answer {
    let a = call(
        app,
        req(
            "GET",
            &format!("/v1/persons/{iin}/lookups{query}"),
            Some(TEST_KEY),
            Some("citizen-portal"),
            "",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a
}

#[tokio::test]
async fn every_v1_route_needs_a_credential_a_scope_and_a_purpose() {
    let db = TestDb::sqlite();
    let reg = registry(&db.url).await;
    let app = bare(&reg).await;
    let (_, checks_only) = reg
        .clients()
        .add("checks-only", Scopes::parse_list("checks").unwrap())
        .await
        .unwrap();

    let a = check(&app, None, Some("x1")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["code"], "credential_required");
    assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"kinship\"");
    assert_eq!(a.headers["content-type"], "application/problem+json");

    let a = check(
        &app,
        Some("kin_not-a-key-of-anyone-at-all-0000000"),
        Some("x1"),
    )
    .await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("credential_invalid"))
    );

    // The key also works as X-Api-Key.
    let r = Request::post("/v1/checks/kinship")
        .header("x-api-key", &checks_only)
        .header("x-purpose", "astana-registration")
        .body(Body::from(CHECK))
        .unwrap();
    let a = call(&app, r).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["confirmed"], true);

    for (method, uri) in [
        ("GET", "/v1/persons/720415300125"),
        ("GET", "/v1/persons/720415300125/relatives"),
        ("GET", "/v1/relations?a=720415300125&b=750101400219"),
        ("GET", "/v1/acts/B-2001-0002"),
        ("GET", "/v1/refused"),
        ("GET", "/v1/persons/720415300125/lookups"),
        ("POST", "/v1/acts"),
    ] {
        let a = call(&app, req(method, uri, Some(&checks_only), Some("x1"), "")).await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            a.text
        );
        assert_eq!(a.body["code"], "scope_missing");
        assert!(
            a.body["detail"].as_str().unwrap().contains("checks"),
            "{}",
            a.text
        );
    }

    let a = check(&app, Some(TEST_KEY), None).await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("purpose_required"))
    );
    for bad in [
        "Astana",
        "x",
        "astana; who=me",
        "astana; case=two words",
        &"a".repeat(300),
    ] {
        let a = check(&app, Some(TEST_KEY), Some(bad)).await;
        assert_eq!(
            (a.status, a.body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_purpose")),
            "{bad}"
        );
    }

    // Writes need acts:write but state no purpose; the graph digest needs
    // only a client.
    let a = call(&app, req("POST", "/v1/acts", Some(TEST_KEY), None, r#"{"kind":"death","act_id":"D-1","date":"2020-01-02","person":"720415300125","died":"2020-01-01"}"#)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = call(
        &app,
        req("GET", "/v1/graph/digest", Some(&checks_only), None, ""),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = call(&app, req("GET", "/v1/graph/digest", None, None, "")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // What stays open.
    for uri in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let a = call(&app, req("GET", uri, None, None, "")).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
    }

    // Revoked: refused at once in this process.
    reg.clients().revoke("checks-only").await.unwrap();
    let a = check(&app, Some(&checks_only), Some("x1")).await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("credential_invalid"))
    );
    assert!(
        reg.clients().revoke("checks-only").await.is_err(),
        "revoked twice"
    );
    let listed = reg.clients().list().await.unwrap();
    let c = listed.iter().find(|c| c.name == "checks-only").unwrap();
    assert!(c.revoked_at.is_some() && c.scopes.contains(Scope::Checks));
}

async fn lookups_are_listed(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let reg = registry(&db.url).await;
    let app = bare(&reg).await;
    let (_, portal) = reg
        .clients()
        .add("registration-portal", Scopes::parse_list("checks").unwrap())
        .await
        .unwrap();
    let purpose = "astana-registration; case=APP-2025-123; consent=C-77";
    let a = check(&app, Some(&portal), Some(purpose)).await;
    assert_eq!(a.status, StatusCode::OK);
    // Revealed by the answer alone: the spouse and the child of 720415300125.
    let a = call(
        &app,
        req(
            "GET",
            "/v1/persons/720415300125/family",
            Some(&portal),
            Some("housing-queue"),
            "",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // A batch large enough to be indexed in the background: still listed
    // at once.
    let mut batch = String::new();
    for _ in 0..40 {
        batch.push_str(CHECK);
        batch.push('\n');
    }
    for i in 0..40u32 {
        let iin = kinship::iin::Iin::compose(
            chrono::NaiveDate::from_ymd_opt(1990, 1, 1 + i % 28).unwrap(),
            kinship::iin::Sex::Female,
            100 + i as u16,
        )
        .unwrap();
        batch.push_str(&format!(
            r#"{{"owner":"{iin}","applicant":"720415300125","claim":"spouse"}}"#
        ));
        batch.push('\n');
    }
    let r = Request::post("/v1/checks/kinship:batch")
        .header(header::AUTHORIZATION, format!("Bearer {portal}"))
        .header("x-purpose", "housing-queue; case=Q-9")
        .body(Body::from(batch))
        .unwrap();
    let a = call(&app, r).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text.lines().count(), 80);

    let page = lookups(&app, "010305500121", "").await.body;
    assert_eq!(page["iin"], "010305500121");
    let items = page["items"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["route"].as_str().unwrap(), i["purpose"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST /v1/checks/kinship:batch", "housing-queue"),
            ("GET /v1/persons/{iin}/family", "housing-queue"),
            ("POST /v1/checks/kinship", "astana-registration"),
        ],
        "newest first"
    );
    let first = &items[2];
    assert_eq!(first["client"], "registration-portal");
    assert_eq!(first["case"], "APP-2025-123");
    assert_eq!(first["consent"], "C-77");
    assert_eq!(first["outcome"], "confirmed");
    assert_eq!(items[0]["outcome"], "lines 1-80");
    assert_eq!(items[0]["case"], "Q-9");

    // Indexed by person (as the background indexer does), the same list.
    let ids = |p: &Value| -> Vec<i64> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let before_index = ids(&lookups(&app, "010305500121", "?limit=500").await.body);
    while reg.ledger().index_audit().await.unwrap() {}
    let after_index = ids(&lookups(&app, "010305500121", "?limit=500").await.body);
    assert_eq!(
        after_index[1..],
        before_index[..],
        "one more: the read before"
    );

    // The wife appears only inside the family answer.
    let wife = lookups(&app, "750101400219", "").await.body;
    assert_eq!(wife["items"][0]["route"], "GET /v1/persons/{iin}/family");

    // Pages: newest first, `before` the last one seen. The reads of the
    // list are lookups too, newer than the ones above.
    let p1 = lookups(&app, "010305500121", "?limit=2").await.body;
    let ids: Vec<i64> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1]);
    assert_eq!(p1["items"][0]["route"], "GET /v1/persons/{iin}/lookups");
    let next = p1["next_before"].as_i64().unwrap();
    let p2 = lookups(&app, "010305500121", &format!("?limit=2&before={next}"))
        .await
        .body;
    assert!(p2["items"][0]["id"].as_i64().unwrap() < next);
    let a = call(
        &app,
        req(
            "GET",
            "/v1/persons/010305500121/lookups?limit=0",
            Some(TEST_KEY),
            Some("x1"),
            "",
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
    );

    // A person nobody asked about has no lookups; asking is one.
    let stranger = kinship::iin::Iin::compose(
        chrono::NaiveDate::from_ymd_opt(1999, 1, 1).unwrap(),
        kinship::iin::Sex::Male,
        28,
    )
    .unwrap();
    let nobody = lookups(&app, &stranger.to_string(), "").await.body;
    assert_eq!(nobody["items"].as_array().unwrap().len(), 0);
    let again = lookups(&app, &stranger.to_string(), "").await.body;
    assert_eq!(again["items"][0]["route"], "GET /v1/persons/{iin}/lookups");

    // The audit is append-only, in the database itself.
    let refused = match reg.ledger() {
        l if l.backend() == kinship::ledger::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.url))
                .await
                .unwrap();
            let e = sqlx::query("UPDATE audit SET purpose = 'x'")
                .execute(&pool)
                .await
                .is_err();
            let d = sqlx::query("DELETE FROM audit")
                .execute(&pool)
                .await
                .is_err();
            pool.close().await;
            e && d
        }
        _ => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let e = sqlx::query("UPDATE audit SET purpose = 'x'")
                .execute(&pool)
                .await
                .is_err();
            let d = sqlx::query("DELETE FROM audit")
                .execute(&pool)
                .await
                .is_err();
            pool.close().await;
            e && d
        }
    };
    assert!(
        refused,
        "the database refuses to change or delete audit records"
    );
    reg.ledger().close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn lookups_are_listed_on_sqlite() {
    lookups_are_listed(Backend::Sqlite).await;
}

#[tokio::test]
async fn lookups_are_listed_on_postgres() {
    lookups_are_listed(Backend::Postgres).await;
}

/// Every route that reveals personal data leaves an audit record naming
/// the person, whatever the route: listed from the OpenAPI document, so a
/// new route is covered as soon as it is declared.
#[tokio::test]
async fn every_personal_data_route_is_audited() {
    let db = TestDb::sqlite();
    let reg = registry(&db.url).await;
    let residence = r#"{"kind":"residence","act_id":"REG-1","person":"010305500121","dwelling":"D-1","from":"2005-01-01","type":"permanent"}"#;
    // A refused record naming the person, for the refused list to reveal.
    let twice = r#"{"kind":"birth","act_id":"B-2001-0099","date":"2001-03-09","child":"010305500121","mother":"750101400219"}"#;
    // A birth record with no father, for the quality findings to reveal.
    let orphan = kinship::iin::Iin::compose(
        chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        kinship::iin::Sex::Female,
        7001,
    )
    .unwrap()
    .to_string();
    let fatherless = format!(
        r#"{{"kind":"birth","act_id":"B-2020-0100","date":"2020-01-01","child":"{orphan}","mother":"750101400219"}}"#
    );
    let out = reg
        .ingest(&common::numbered(&[residence, twice, &fatherless]), "test")
        .await
        .unwrap();
    assert!(format!("{out:?}").contains("Refused"), "{out:?}");
    let app = bare(&reg).await;
    let doc = kinship::http::openapi_doc();
    let examples: &[(&str, &str, &str)] = &[
        ("POST", "/v1/checks/kinship", CHECK),
        ("POST", "/v1/checks/kinship:batch", CHECK),
        ("GET", "/v1/persons/{iin}/family", ""),
        ("POST", "/v1/family:batch", r#"{"iin":"010305500121"}"#),
        ("GET", "/v1/dwellings/{dwelling}/household", ""),
        ("GET", "/v1/persons/{iin}", ""),
        ("GET", "/v1/persons/{iin}/relatives", ""),
        ("GET", "/v1/acts/{act_id}", ""),
        ("GET", "/v1/refused", ""),
        ("GET", "/v1/persons/{iin}/lookups", ""),
        ("GET", "/v1/relations", ""),
        ("GET", "/v1/persons/{iin}/gedcom", ""),
        ("GET", "/v1/quality", ""),
        ("GET", "/v1/persons/{iin}/graph", ""),
    ];
    // Whom each route's example answer shows (the child, unless said here).
    let shown = |path: &str| match path {
        "/v1/quality" => orphan.as_str(),
        _ => "010305500121",
    };
    // Query strings of the routes that take their persons there.
    let query = |path: &str| match path {
        "/v1/relations" => "?a=010305500121&b=750101400219",
        _ => "",
    };
    let mut covered = 0;
    for (path, item) in &doc.paths.paths {
        for (method, op) in [("GET", &item.get), ("POST", &item.post)] {
            let Some(op) = op else { continue };
            let takes_purpose = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, utoipa::openapi::RefOr::T(p) if p.name == "X-Purpose"));
            if !takes_purpose {
                continue;
            }
            let (_, _, body) = examples
                .iter()
                .find(|(m, p, _)| *m == method && p == path)
                .unwrap_or_else(|| {
                    panic!("{method} {path} reveals personal data: give it an example here")
                });
            let uri = path
                .replace("{iin}", "010305500121")
                .replace("{dwelling}", "D-1")
                .replace("{act_id}", "B-2001-0002")
                + query(path);
            let before = audit_count(&reg).await;
            let a = call(
                &app,
                req(method, &uri, Some(TEST_KEY), Some("audit-test"), body),
            )
            .await;
            assert_eq!(a.status, StatusCode::OK, "{method} {uri}: {}", a.text);
            assert_eq!(audit_count(&reg).await, before + 1, "{method} {path}");
            let label = format!("{method} {path}");
            let listed = lookups(&app, shown(path), "?limit=2").await.body;
            let routes: Vec<&str> = listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["route"].as_str().unwrap())
                .collect();
            assert!(
                routes.contains(&label.as_str()),
                "{label} not listed: {routes:?}"
            );
            covered += 1;
        }
    }
    assert_eq!(covered, examples.len());
    // Refused requests reveal nothing and leave nothing.
    let before = audit_count(&reg).await;
    let a = call(
        &app,
        req(
            "POST",
            "/v1/checks/kinship",
            Some(TEST_KEY),
            Some("x1"),
            "{}",
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(audit_count(&reg).await, before);
}

/// Audit records written so far (once every answer's record is moved in).
async fn audit_count(reg: &Registry) -> i64 {
    reg.audit_settled().await.unwrap();
    reg.ledger().audit_totals().await.unwrap().0
}

/// With nowhere to write the record (no spool, the database locked), the
/// answer is withheld; with the spool, checks go on and their records
/// reach the ledger once it can take them.
#[tokio::test]
async fn no_answer_without_its_record() {
    use sqlx::Connection;
    for spool in [false, true] {
        let db = TestDb::sqlite();
        let reg = registry(&db.url).await;
        if !spool {
            reg.set_audit_log(None);
        }
        let app = common::app(reg.clone()).await;
        // One answer first, so the writer has started.
        let a = check(&app, Some(TEST_KEY), Some("x1")).await;
        assert_eq!(a.status, StatusCode::OK);
        let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.url))
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut blocker)
            .await
            .unwrap();
        let a = check(&app, Some(TEST_KEY), Some("while-locked")).await;
        if spool {
            assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        } else {
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text);
            assert_eq!(a.body["code"], "audit_unavailable");
            assert_eq!(a.headers["retry-after"], "5");
            assert!(
                !a.text.contains("confirmed"),
                "nothing of the answer is told"
            );
        }
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        blocker.close().await.unwrap();
        if spool {
            // Drained within a second or two of the database's return.
            let began = std::time::Instant::now();
            loop {
                let page = lookups(&app, "010305500121", "").await.body;
                let found = page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["purpose"] == "while-locked");
                if found {
                    break;
                }
                assert!(
                    began.elapsed() < std::time::Duration::from_secs(10),
                    "the spooled record never reached the ledger"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
        reg.ledger().close().await;
    }
}

#[test]
fn clients_are_managed_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let bin = env!("CARGO_BIN_EXE_kinship");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap()
    };
    let out = run(&["clients", "add", "portal", "--scopes", "checks,audit"]);
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("kin_") && key.len() > 40, "{key}");
    let out = run(&["clients", "add", "portal", "--scopes", "checks"]);
    assert!(!out.status.success(), "a second client of the same name");
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
    let out = run(&["clients", "add", "other", "--scopes", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
    let list = String::from_utf8(run(&["clients", "list"]).stdout).unwrap();
    assert!(
        list.contains("portal\tchecks audit\t") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&key), "a key is never shown again");
    assert!(run(&["clients", "revoke", "portal"]).status.success());
    let list = String::from_utf8(run(&["clients", "list"]).stdout).unwrap();
    assert!(list.contains("revoked"), "{list}");
    assert!(!run(&["clients", "revoke", "portal"]).status.success());
    // Only the hash is stored.
    let raw = std::fs::read(&db).unwrap();
    assert!(!raw.windows(key.len()).any(|w| w == key.as_bytes()));
}

/// Each client has its own rate: past its burst it is told to wait (429,
/// `Retry-After`), and others are not held back by it.
#[tokio::test]
async fn a_client_past_its_rate_is_told_to_wait() {
    let db = TestDb::sqlite();
    let reg = registry(&db.url).await;
    common::authorize(&reg).await;
    let (_, other) = reg
        .clients()
        .add("other", Scopes::parse_list("checks").unwrap())
        .await
        .unwrap();
    let app = router(AppState::ready(reg.clone()).with_client_rate(1, 3));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = check(&app, Some(TEST_KEY), Some("x1")).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(a.body["code"], "rate_limited");
            assert!(
                a.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u32>()
                    .unwrap()
                    >= 1
            );
        }
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let a = check(&app, Some(&other), Some("x1")).await;
    assert_eq!(a.status, StatusCode::OK, "another client is not held back");
    // Open routes are not counted.
    let a = call(&app, req("GET", "/healthz", None, None, "")).await;
    assert_eq!(a.status, StatusCode::OK);
}

/// A JWT signed with `key` (a PEM file in `tests/keys`).
fn jwt(key: &str, kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(keys_dir().join(key)).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn keys_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

/// JWTs from the configured issuer identify clients as keys do: the
/// token's `sub` is the client the audit names, its `scope` the scopes;
/// any other issuer, audience, key, an expired token or a revoked subject
/// is refused with a sentence saying which.
#[tokio::test]
async fn jwts_from_the_configured_issuer_identify_clients() {
    use kinship::access::JwtIssuer;
    let db = TestDb::sqlite();
    let reg = registry(&db.url).await;
    let app = bare(&reg).await;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |f: &dyn Fn(&mut Value)| {
        let mut c = serde_json::json!({
            "iss": "https://idp.egov.kz", "aud": "kinship", "sub": "queue-analytics",
            "scope": "checks openid", "exp": now + 600,
        });
        f(&mut c);
        c
    };
    let good = jwt("issuer-ed25519.pem", Some("issuer-2026"), &claims(&|_| {}));

    let a = check(&app, Some(&good), Some("housing-queue")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.text.contains("no issuer is configured"), "{}", a.text);

    let jwks = keys_dir().join("issuer.jwks.json");
    reg.clients()
        .set_issuer(JwtIssuer::from_file("https://idp.egov.kz", "kinship", &jwks).unwrap());
    let a = check(&app, Some(&good), Some("housing-queue; case=Q-1")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let listed = lookups(&app, "010305500121", "?limit=1").await.body;
    assert_eq!(listed["items"][0]["client"], "jwt:queue-analytics");
    assert_eq!(listed["items"][0]["case"], "Q-1");
    // The subject is a client row now, listed with the others.
    let names: Vec<String> = reg
        .clients()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(
        names.contains(&"jwt:queue-analytics".to_owned()),
        "{names:?}"
    );

    let refused = [
        (
            "expired",
            jwt(
                "issuer-ed25519.pem",
                None,
                &claims(&|c| c["exp"] = (now - 3600).into()),
            ),
            "expired",
        ),
        (
            "another issuer",
            jwt(
                "issuer-ed25519.pem",
                None,
                &claims(&|c| c["iss"] = "https://elsewhere".into()),
            ),
            "issuer",
        ),
        (
            "another audience",
            jwt(
                "issuer-ed25519.pem",
                None,
                &claims(&|c| c["aud"] = "payroll".into()),
            ),
            "not meant for this service",
        ),
        (
            "another key",
            jwt("other-ed25519.pem", None, &claims(&|_| {})),
            "signature",
        ),
        (
            "a sub that is no client name",
            jwt(
                "issuer-ed25519.pem",
                None,
                &claims(&|c| c["sub"] = "a b".into()),
            ),
            "sub",
        ),
        (
            "tampered",
            {
                let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
                parts[1] = jwt(
                    "issuer-ed25519.pem",
                    None,
                    &claims(&|c| c["scope"] = "checks audit investigate".into()),
                )
                .split('.')
                .nth(1)
                .unwrap()
                .to_owned();
                parts.join(".")
            },
            "signature",
        ),
    ];
    for (why, token, says) in refused {
        let a = check(&app, Some(&token), Some("housing-queue")).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{why}: {}", a.text);
        assert_eq!(a.body["code"], "credential_invalid", "{why}");
        assert!(
            a.body["detail"].as_str().unwrap().contains(says),
            "{why}: {}",
            a.text
        );
    }
    // The scopes are the token's.
    let audit_only = jwt(
        "issuer-ed25519.pem",
        None,
        &claims(&|c| c["scope"] = "audit".into()),
    );
    let a = check(&app, Some(&audit_only), Some("housing-queue")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert_eq!(a.body["code"], "scope_missing");

    // Revoking the subject shuts its tokens out.
    reg.clients().revoke("jwt:queue-analytics").await.unwrap();
    let a = check(&app, Some(&good), Some("housing-queue")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.text.contains("revoked"), "{}", a.text);

    // The issuer's key as a PEM file works the same; a token without kid.
    let pem = keys_dir().join("issuer-ed25519.pub.pem");
    reg.clients()
        .set_issuer(JwtIssuer::from_file("https://idp.egov.kz", "kinship", &pem).unwrap());
    let other_sub = jwt(
        "issuer-ed25519.pem",
        None,
        &claims(&|c| c["sub"] = "registration-portal-2".into()),
    );
    let a = check(&app, Some(&other_sub), Some("astana-registration")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // A key file that is neither is refused at start, naming the file.
    let bad = JwtIssuer::from_file("x", "kinship", &keys_dir().join("README.md"));
    assert!(bad.is_err_and(|e| e.to_string().contains("README.md")));
}
