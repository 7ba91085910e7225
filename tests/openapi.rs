//! The OpenAPI document at /openapi.json and Swagger UI at /docs: the
//! document lists exactly the routes the router serves, every documented
//! route answers, the answers have the documented shape, and the UI loads.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestDb;
use http_body_util::BodyExt;
use kinship::http::{AppState, SEQ_HEADER, router};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt;

/// Every route of the API, as (method, OpenAPI path). `/openapi.json` and
/// `/docs` serve the documentation itself and are not part of it.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/graph/digest"),
    ("POST", "/v1/acts"),
    ("GET", "/v1/refused"),
    ("POST", "/v1/checks/kinship"),
    ("POST", "/v1/checks/kinship:batch"),
    ("GET", "/v1/persons/{iin}/family"),
    ("POST", "/v1/family:batch"),
    ("GET", "/v1/dwellings/{dwelling}/household"),
    ("GET", "/v1/persons/{iin}"),
    ("GET", "/v1/persons/{iin}/relatives"),
    ("GET", "/v1/persons/{iin}/lookups"),
    ("GET", "/v1/acts/{act_id}"),
    ("GET", "/v1/relations"),
    ("GET", "/v1/persons/{iin}/gedcom"),
    ("GET", "/v1/quality"),
    ("GET", "/v1/persons/{iin}/graph"),
];

const OWNER: &str = "750101400219";
const HUSBAND: &str = "720415300125";
const CHILD: &str = "010305500121";
const DWELLING: &str = "21:320:045:112:17";

/// The acts the ready service starts from: a family, a residence and one
/// refused record (so every list has something in it).
const ACTS: &str = concat!(
    r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    "\n",
    r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125","name":{"surname":"Ахметов","given":"Ерлан","patronymic":"Маратович"}}"#,
    "\n",
    r#"{"kind":"residence","act_id":"REG-77","person":"010305500121","dwelling":"21:320:045:112:17","from":"2020-01-10"}"#,
    "\n",
    r#"{"kind":"birth","act_id":"X-1","date":"2001-03-09","child":"010305500124"}"#,
    "\n",
);

struct Answer {
    status: StatusCode,
    ctype: Option<String>,
    seq: Option<String>,
    location: Option<String>,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(200)])
            )
        })
    }

    /// The problem `code`, for a problem+json answer.
    fn problem_code(&self) -> Option<String> {
        (self.ctype.as_deref() == Some("application/problem+json"))
            .then(|| self.json()["code"].as_str().map(str::to_owned))
            .flatten()
    }
}

async fn call(app: &axum::Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let h = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, ctype, seq, location) = (
        res.status(),
        h(header::CONTENT_TYPE.as_str()),
        h(SEQ_HEADER),
        h(header::LOCATION.as_str()),
    );
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        ctype,
        seq,
        location,
        bytes,
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, ctype: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, ctype)
        .body(body.into())
        .unwrap()
}

/// A request for a route, with sample values for its path parameters that
/// name people and acts of `ACTS`, and a valid body.
fn sample(method: &str, path: &str) -> Request<Body> {
    let uri = path
        .replace("{iin}", OWNER)
        .replace("{act_id}", "B-2001-0002")
        .replace("{dwelling}", DWELLING);
    assert!(
        !uri.contains('{'),
        "{path}: give its path parameters sample values"
    );
    match (method, path) {
        ("GET", "/v1/relations") => get(&format!("{uri}?a={OWNER}&b={CHILD}")),
        ("GET", _) => get(&uri),
        ("POST", "/v1/acts") => post(&uri, "application/x-ndjson", ACTS),
        ("POST", "/v1/checks/kinship") => post(
            &uri,
            "application/json",
            json!({"owner": OWNER, "applicant": CHILD, "claim": "child"}).to_string(),
        ),
        ("POST", "/v1/checks/kinship:batch") => post(
            &uri,
            "application/x-ndjson",
            format!(
                "{}\n{}\n",
                json!({"owner": OWNER, "applicant": HUSBAND, "claim": "spouse"}),
                json!({"owner": OWNER, "applicant": "nobody", "claim": "spouse"}),
            ),
        ),
        ("POST", "/v1/family:batch") => post(
            &uri,
            "application/x-ndjson",
            format!("{}\n", json!({"iin": OWNER})),
        ),
        _ => panic!("{method} {path}: add a sample request for the new route"),
    }
}

async fn document(app: &axum::Router) -> Value {
    let a = call(app, get("/openapi.json")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.ctype
            .as_deref()
            .unwrap_or("")
            .starts_with("application/json"),
        "{:?}",
        a.ctype
    );
    a.json()
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// (METHOD, path, operation) for every operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(*m) {
                ops.push((m.to_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

fn expected_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// Follows a `$ref` (to any component) within the document.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external $ref {r}"));
            let target = doc
                .pointer(ptr)
                .unwrap_or_else(|| panic!("$ref {r} resolves to nothing"));
            deref(doc, target)
        }
        None => v,
    }
}

fn all_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| all_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_served() {
    let app = router(AppState::default());
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "kinship");
    let description = doc["info"]["description"].as_str().expect("a description");
    assert!(description.contains("X-Ledger-Seq"), "{description}");

    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .filter(|(_, p)| p != "/openapi.json")
        .collect();
    let expected = expected_routes();
    assert_eq!(
        documented,
        expected,
        "documented but not in ROUTES: {:?}; in ROUTES but not documented: {:?}",
        documented.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&documented).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn every_operation_is_documented_in_full() {
    let doc = document(&router(AppState::default())).await;

    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        deref(&doc, &json!({ "$ref": r }));
    }
    assert!(doc.pointer("/components/schemas/Problem").is_some());

    let mut operation_ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        assert!(
            operation_ids.insert(op["operationId"].as_str().expect("operationId")),
            "{at}: operationId used twice"
        );
        assert!(op["summary"].is_string(), "{at}: no summary");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{at}: no tag"
        );

        // Every {param} of the path is a documented, required path parameter.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{at}: path parameter {name} is not documented"
                );
            }
        }
        if method == "POST" {
            let content = op["requestBody"]["content"].as_object();
            assert!(
                content.is_some_and(|c| !c.is_empty()),
                "{at}: no request body"
            );
        }

        let responses = op["responses"].as_object().expect("responses");
        let ok = responses
            .get("200")
            .unwrap_or_else(|| panic!("{at}: no 200"));
        assert!(
            ok["content"].as_object().is_some_and(|c| !c.is_empty()),
            "{at}: the 200 answer has no content"
        );
        for (status, response) in responses {
            let response = deref(&doc, response);
            if status == "503" {
                assert!(response["headers"].get("X-Ledger-Seq").is_none());
            } else {
                let h = response["headers"]
                    .get("X-Ledger-Seq")
                    .unwrap_or_else(|| panic!("{at} {status}: no X-Ledger-Seq header"));
                assert_eq!(deref(&doc, h)["schema"]["type"], "integer");
            }
            if status.starts_with('4') || status.starts_with('5') {
                let problem = &response["content"]["application/problem+json"]["schema"];
                assert_eq!(
                    problem["$ref"], "#/components/schemas/Problem",
                    "{at} {status}: not a problem+json answer"
                );
            }
        }
        // Every route but liveness and metrics needs the graph.
        if path != "/healthz" && path != "/metrics" {
            assert!(responses.contains_key("503"), "{at}: no 503 not_ready");
        }
    }

    // The NDJSON batches say so.
    for path in ["/v1/checks/kinship:batch", "/v1/family:batch"] {
        let op = &doc["paths"][path]["post"];
        assert!(op["requestBody"]["content"]["application/x-ndjson"].is_object());
        assert!(op["responses"]["200"]["content"]["application/x-ndjson"].is_object());
    }
    let acts = &doc["paths"]["/v1/acts"]["post"]["requestBody"]["content"];
    assert!(acts["application/json"].is_object() && acts["application/x-ndjson"].is_object());
}

/// Checks that `v` has the shape `schema` documents: types, enums,
/// required properties, and no undocumented property.
fn check_shape(doc: &Value, schema: &Value, v: &Value, at: &str) {
    let schema = deref(doc, schema);
    if let Some(parts) = schema["allOf"].as_array() {
        let mut props = Map::new();
        let mut required = Vec::new();
        for part in parts {
            let part = deref(doc, part);
            assert!(part["allOf"].is_null(), "{at}: nested allOf");
            props.extend(part["properties"].as_object().cloned().unwrap_or_default());
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        let merged = json!({"type": "object", "properties": props, "required": required});
        return check_shape(doc, &merged, v, at);
    }
    if let Some(alts) = schema["oneOf"].as_array() {
        let null = alts.iter().any(|a| deref(doc, a)["type"] == "null");
        if v.is_null() {
            assert!(null, "{at}: null where the document does not allow it");
            return;
        }
        let others: Vec<&Value> = alts
            .iter()
            .filter(|a| deref(doc, a)["type"] != "null")
            .collect();
        assert_eq!(others.len(), 1, "{at}: only nullable oneOf is checked");
        return check_shape(doc, others[0], v, at);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return; // any value
    }
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert!(
        types.contains(&kind) || (kind == "integer" && types.contains(&"number")),
        "{at}: {kind} where the document says {types:?}"
    );
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(allowed.contains(v), "{at}: {v} is not one of {allowed:?}");
    }
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_shape(doc, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(fields) => {
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                assert!(fields.contains_key(r), "{at}: required {r} is missing");
            }
            // A free-form object (no properties listed) takes any field;
            // one with properties is held to them.
            let open = schema["additionalProperties"] == true || schema["properties"].is_null();
            for (k, field) in fields {
                match props.get(k) {
                    Some(s) => check_shape(doc, s, field, &format!("{at}.{k}")),
                    None => assert!(open, "{at}: {k} is not documented"),
                }
            }
        }
        _ => {}
    }
}

async fn ready_app() -> (axum::Router, TestDb) {
    let db = TestDb::sqlite();
    let reg = Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    let app = common::app(reg).await;
    let a = call(&app, post("/v1/acts", "application/x-ndjson", ACTS)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["accepted"], 3);
    (app, db)
}

/// A problem that says the router has no such route (or method).
fn is_no_route(a: &Answer) -> bool {
    matches!(
        a.problem_code().as_deref(),
        Some("not_found" | "method_not_allowed")
    )
}

#[tokio::test]
async fn every_documented_route_is_served() {
    // Not ready: every route answers (503 not_ready, or health), none is
    // the router's not_found.
    let app = router(AppState::default());
    let doc = document(&app).await;
    for (method, path, _) in operations(&doc) {
        let a = call(&app, sample(&method, &path)).await;
        assert!(
            !is_no_route(&a),
            "{method} {path}: the router does not serve it ({})",
            a.status
        );
        if !["/healthz", "/metrics", "/openapi.json"].contains(&path.as_str()) {
            assert_eq!(
                (a.status, a.problem_code().as_deref()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready")),
                "{method} {path}"
            );
        }
    }
    // The check can tell a missing route.
    let a = call(&app, get("/v1/persons")).await;
    assert!(is_no_route(&a));
}

#[tokio::test]
async fn answers_have_the_documented_shape() {
    let (app, _db) = ready_app().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let a = call(&app, sample(&method, &path)).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{at}: {}",
            String::from_utf8_lossy(&a.bytes)
        );
        assert!(a.seq.is_some(), "{at}: no {SEQ_HEADER}");
        let ctype = a.ctype.clone().unwrap_or_default();
        let documented = op["responses"]["200"]["content"]
            .as_object()
            .expect("200 content");
        assert!(
            documented.contains_key(&ctype),
            "{at}: answered {ctype}, documented {:?}",
            documented.keys().collect::<Vec<_>>()
        );
        if ctype == "application/json" {
            check_shape(&doc, &documented[&ctype]["schema"], &a.json(), &at);
        } else if path == "/metrics" {
            let page = String::from_utf8(a.bytes.clone()).unwrap();
            assert!(page.contains("\nkinship_graph_persons "), "{at}: {page}");
        } else if ctype == "text/vnd.familysearch.gedcom" {
            let file = String::from_utf8(a.bytes.clone()).unwrap();
            assert!(
                file.starts_with("0 HEAD\n1 GEDC\n2 VERS 7.0\n") && file.ends_with("0 TRLR\n"),
                "{at}: {file}"
            );
        } else {
            // NDJSON: each line is the single answer's schema, or a LineError.
            assert_eq!(ctype, "application/x-ndjson", "{at}");
            let line_schema = match path.as_str() {
                "/v1/checks/kinship:batch" => "CheckAnswer",
                "/v1/family:batch" => "FamilyAnswer",
                _ => panic!("{at}: which schema do its lines have?"),
            };
            for line in String::from_utf8(a.bytes.clone()).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                let schema = if v.get("error").is_some() {
                    "LineError"
                } else {
                    line_schema
                };
                let r = json!({ "$ref": format!("#/components/schemas/{schema}") });
                check_shape(&doc, &r, &v, &format!("{at} line"));
            }
        }
    }

    // Problems too.
    let a = call(&app, get("/v1/persons/123")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let r = json!({"$ref": "#/components/schemas/Problem"});
    check_shape(&doc, &r, &a.json(), "problem");
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = router(AppState::default());
    let a = call(&app, get("/docs")).await;
    assert!(a.status.is_redirection(), "{}", a.status);
    assert_eq!(a.location.as_deref(), Some("/docs/"));

    let a = call(&app, get("/docs/")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.ctype.as_deref().unwrap_or("").starts_with("text/html"),
        "{:?}",
        a.ctype
    );
    let html = String::from_utf8(a.bytes).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");

    // The page's script and style are served from here (no CDN), and it
    // loads our document.
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        assert!(html.contains(asset), "the page does not load {asset}");
        let a = call(&app, get(&format!("/docs/{asset}"))).await;
        assert_eq!(a.status, StatusCode::OK, "{asset}");
        assert!(a.bytes.len() > 1000, "{asset}");
    }
    let a = call(&app, get("/docs/swagger-initializer.js")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        String::from_utf8(a.bytes)
            .unwrap()
            .contains("/openapi.json")
    );

    let a = call(&app, get("/docs/no-such-file.js")).await;
    assert_eq!(
        (a.status, a.problem_code().as_deref()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

/// Types defined outside the HTTP layer are described by mirror schemas;
/// they must say what those types serialize to.
#[tokio::test]
async fn mirrored_schemas_match_the_types() {
    let doc = document(&router(AppState::default())).await;
    let schema = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });

    let row = kinship::ledger::RefusedRow {
        id: 1,
        act_id: None,
        code: "invalid_iin".into(),
        detail: "field child: check digit is 4, expected 1".into(),
        raw: "{}".into(),
        raw_bytes: 2,
        source: "http:x:1".into(),
        line: Some(1),
        received_at: "2026-01-01T00:00:00.000Z".into(),
    };
    check_shape(
        &doc,
        &schema("RefusedRow"),
        &serde_json::to_value(&row).unwrap(),
        "RefusedRow",
    );

    let name = kinship::acts::Name {
        surname: "Ахметов".into(),
        given: "Ерлан".into(),
        patronymic: Some("Маратович".into()),
    };
    check_shape(
        &doc,
        &schema("Name"),
        &serde_json::to_value(&name).unwrap(),
        "Name",
    );

    use kinship::graph::{Basis, Role};
    for b in [Basis::Birth, Basis::Paternity, Basis::Adoption] {
        check_shape(
            &doc,
            &schema("Basis"),
            &serde_json::to_value(b).unwrap(),
            "Basis",
        );
    }
    for r in [Role::Mother, Role::Father] {
        check_shape(
            &doc,
            &schema("Role"),
            &serde_json::to_value(r).unwrap(),
            "Role",
        );
    }
    let iin = kinship::iin::Iin::parse(OWNER).unwrap();
    check_shape(
        &doc,
        &schema("Iin"),
        &serde_json::to_value(iin).unwrap(),
        "Iin",
    );
}

#[tokio::test]
async fn an_unknown_query_parameter_is_refused_on_every_route() {
    let (app, _db) = ready_app().await;
    let doc = document(&app).await;
    for (method, path, _) in operations(&doc) {
        let at = format!("{method} {path}");
        let mut req = sample(&method, &path);
        let uri = req.uri().to_string();
        let sep = if uri.contains('?') { '&' } else { '?' };
        *req.uri_mut() = format!("{uri}{sep}as_off=2020-01-01").parse().unwrap();
        let a = call(&app, req).await;
        assert_eq!(
            (a.status, a.problem_code().as_deref()),
            (StatusCode::BAD_REQUEST, Some("unknown_parameter")),
            "{at}"
        );
        assert!(
            a.json()["detail"].as_str().unwrap().contains("as_off"),
            "{at}: {}",
            a.json()
        );
    }
    // The parameters a route does take still pass, and are named in the
    // refusal of one it does not.
    let ok = call(
        &app,
        get(&format!("/v1/persons/{OWNER}/family?as_of=2020-01-01")),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let a = call(
        &app,
        get(&format!("/v1/persons/{OWNER}/family?asof=2020-01-01")),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["detail"].as_str().unwrap().contains("as_of"));
    // A malformed query string is a problem too, not a bare text answer.
    let a = call(&app, get("/v1/refused?limit=1&limit=2")).await;
    assert_eq!(
        (a.status, a.problem_code().as_deref()),
        (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
    );
}
