//! `GET /v1/quality`: each kind of finding on a small registry made for
//! it, beside a near case that must not be listed, on SQLite and
//! PostgreSQL; pages follow one another without losing or repeating one.

mod common;

use chrono::NaiveDate;
use common::{Backend, TestDb};
use kinship::iin::{Iin, Sex};
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A valid IIN for a birth date and sex (serials from `serial` up).
fn iin(born: &str, sex: Sex, serial: &mut u16) -> String {
    let d = NaiveDate::parse_from_str(born, "%Y-%m-%d").unwrap();
    loop {
        *serial += 1;
        if let Some(i) = Iin::compose(d, sex, *serial) {
            return i.to_string();
        }
    }
}

struct People {
    no_father: String,
    with_paternity: String,
    old: String,
    old_dead: String,
    only_married: String,
    married_and_registered: String,
    husband: String,
    crowded: &'static str,
}

fn records() -> (Vec<String>, People) {
    let s = &mut 7000u16;
    let mother = iin("1970-01-01", Sex::Female, s);
    let father = iin("1968-01-01", Sex::Male, s);
    let p = People {
        no_father: iin("1995-02-02", Sex::Male, s),
        with_paternity: iin("1996-03-03", Sex::Female, s),
        old: iin("1901-04-04", Sex::Female, s),
        old_dead: iin("1902-05-05", Sex::Male, s),
        only_married: iin("1960-06-06", Sex::Female, s),
        married_and_registered: iin("1961-07-07", Sex::Female, s),
        husband: iin("1958-08-08", Sex::Male, s),
        crowded: "D-CROWDED",
    };
    let husband2 = iin("1959-09-09", Sex::Male, s);
    let mut r = vec![
        format!(
            r#"{{"kind":"birth","act_id":"Q-B-1","date":"1995-02-02","child":"{}","mother":"{mother}"}}"#,
            p.no_father
        ),
        format!(
            r#"{{"kind":"birth","act_id":"Q-B-2","date":"1996-03-03","child":"{}","mother":"{mother}"}}"#,
            p.with_paternity
        ),
        format!(
            r#"{{"kind":"paternity","act_id":"Q-P-1","date":"1999-01-01","child":"{}","father":"{father}"}}"#,
            p.with_paternity
        ),
        format!(
            r#"{{"kind":"birth","act_id":"Q-B-3","date":"1958-08-08","child":"{}","mother":"{}","father":"{}"}}"#,
            p.husband, p.old, p.old_dead
        ),
        format!(
            r#"{{"kind":"death","act_id":"Q-D-1","date":"1990-01-01","person":"{}"}}"#,
            p.old_dead
        ),
        format!(
            r#"{{"kind":"marriage","act_id":"Q-M-1","date":"1985-01-01","spouses":["{}","{}"]}}"#,
            p.husband, p.only_married
        ),
        format!(
            r#"{{"kind":"birth","act_id":"Q-B-4","date":"1959-09-09","child":"{husband2}","mother":"{}","father":"{}"}}"#,
            p.old, p.old_dead
        ),
        format!(
            r#"{{"kind":"marriage","act_id":"Q-M-2","date":"1986-01-01","spouses":["{husband2}","{}"]}}"#,
            p.married_and_registered
        ),
        format!(
            r#"{{"kind":"residence","act_id":"Q-R-X","person":"{}","dwelling":"D-2","from":"1990-01-01"}}"#,
            p.married_and_registered
        ),
    ];
    // 16 permanent residents at one dwelling, 3 at another.
    for i in 0..19 {
        let who = iin(
            "2000-01-01",
            if i % 2 == 0 { Sex::Male } else { Sex::Female },
            s,
        );
        let at = if i < 16 { p.crowded } else { "D-SMALL" };
        r.push(format!(r#"{{"kind":"birth","act_id":"Q-B-R{i}","date":"2000-01-01","child":"{who}","mother":"{mother}","father":"{father}"}}"#));
        r.push(format!(r#"{{"kind":"residence","act_id":"Q-R-{i}","person":"{who}","dwelling":"{at}","from":"2010-01-01"}}"#));
    }
    (r, p)
}

async fn get(app: &axum::Router, uri: &str) -> Value {
    let req = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    let status = res.status();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{uri}: {v}");
    v
}

/// (kind, first person or dwelling) of each finding.
fn keys(items: &[Value]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|f| {
            let what = f["dwelling"]
                .as_str()
                .or(f["persons"][0].as_str())
                .unwrap()
                .to_owned();
            (f["kind"].as_str().unwrap().to_owned(), what)
        })
        .collect()
}

async fn findings(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let reg = Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    let (records, p) = records();
    let out = reg
        .ingest(&common::numbered(&records), "quality")
        .await
        .unwrap();
    assert!(!format!("{out:?}").contains("Refused"), "{out:?}");
    let app = common::app(reg.clone()).await;

    let all = get(&app, "/v1/quality?as_of=2026-01-01&limit=1000").await;
    assert!(all.get("next").is_none(), "{all}");
    let items = all["items"].as_array().unwrap();
    let got = keys(items);
    let has = |k: &str, w: &str| got.contains(&(k.to_owned(), w.to_owned()));
    assert!(has("no_father", &p.no_father), "{got:?}");
    assert!(!has("no_father", &p.with_paternity), "paternity followed");
    assert!(has("over_110_alive", &p.old));
    assert!(!has("over_110_alive", &p.old_dead), "a death is recorded");
    assert!(has("spouse_unknown", &p.only_married));
    assert!(
        !has("spouse_unknown", &p.married_and_registered),
        "a residence too"
    );
    assert!(!has("spouse_unknown", &p.husband));
    assert!(has("crowded_dwelling", p.crowded));
    assert!(!has("crowded_dwelling", "D-SMALL"));
    let crowded = items.iter().find(|f| f["dwelling"] == p.crowded).unwrap();
    assert_eq!(crowded["persons"].as_array().unwrap().len(), 16);
    assert_eq!(crowded["acts"].as_array().unwrap().len(), 16);
    let spouse = items
        .iter()
        .find(|f| f["kind"] == "spouse_unknown")
        .unwrap();
    assert_eq!(spouse["acts"], serde_json::json!(["Q-M-1"]));
    // A kind alone, and a higher bar for dwellings.
    let only = get(&app, "/v1/quality?as_of=2026-01-01&kind=no_father").await;
    assert!(
        only["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kind"] == "no_father")
    );
    let none = get(
        &app,
        "/v1/quality?as_of=2026-01-01&kind=crowded_dwelling&min_residents=16",
    )
    .await;
    assert_eq!(none["items"], serde_json::json!([]));

    // Page by page: the same findings, none twice (pages of 1 and of 2:
    // the first page of 2 holds the dwelling and one person).
    for size in [1, 2] {
        let mut paged = Vec::new();
        let mut uri = format!("/v1/quality?as_of=2026-01-01&limit={size}");
        for _ in 0..100 {
            let page = get(&app, &uri).await;
            let got = page["items"].as_array().unwrap();
            assert!(got.len() <= size + 1, "{page}");
            paged.extend(got.iter().cloned());
            match page.get("next").and_then(Value::as_u64) {
                Some(n) => uri = format!("/v1/quality?as_of=2026-01-01&limit={size}&after={n}"),
                None => break,
            }
        }
        assert_eq!(paged.len(), items.len(), "pages of {size}");
        assert_eq!(keys(&paged), got, "pages of {size}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn findings_sqlite() {
    findings(Backend::Sqlite).await;
}

#[tokio::test]
async fn findings_postgres() {
    findings(Backend::Postgres).await;
}
