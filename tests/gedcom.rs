//! GEDCOM 7 export: the file for a person of fixture 29 is read back with
//! a maintained GEDCOM 7 parser (`gedcom7` from PyPI, installed into a
//! virtualenv by this test), validated, its pointers checked both ways,
//! and its people and links compared with the graph; the command line
//! writes the same file.

mod common;

use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::registry::Registry;
use kinship::resolve::relations;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const AS_OF: &str = "2026-06-01";

/// A Python with `gedcom7`, made once; `None` (with a note) where it
/// cannot be installed.
fn python() -> Option<PathBuf> {
    static PY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gedcom7-venv");
        let py = venv.join("bin/python");
        let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
        let ready = py.exists()
            && ok(Command::new(&py).args(["-c", "import gedcom7"]));
        let installed = ready
            || (ok(Command::new("python3").arg("-m").arg("venv").arg(&venv))
                && ok(Command::new(&py).args(["-m", "pip", "install", "-q", "gedcom7==1.2.0"])));
        if !installed {
            eprintln!("note: cannot install the gedcom7 package from PyPI here; skipping the GEDCOM parser check");
            return None;
        }
        Some(py)
    })
    .clone()
}

async fn registry(url: &str) -> Arc<Registry> {
    let reg = Arc::new(
        Registry::open(Ledger::open(url).await.unwrap())
            .await
            .unwrap(),
    );
    let path = common::fixtures::dir().join("29-relation-names.ndjson");
    reg.ingest(&common::fixtures::lines(&path), "fixture 29")
        .await
        .unwrap();
    // Names for ego: a birth name and a change, so the file holds both.
    let e = common::fixtures::iin_of("E");
    let names = [
        format!(
            r#"{{"kind":"name_change","act_id":"F29-N-1990-1","date":"1990-01-01","person":"{e}","name":{{"surname":"Ахметов","given":"Ерлан","patronymic":"Маратович"}}}}"#
        ),
        format!(
            r#"{{"kind":"name_change","act_id":"F29-N-2010-2","date":"2010-05-01","person":"{e}","name":{{"surname":"Ахмет","given":"Ерлан"}}}}"#
        ),
    ];
    let out = reg
        .ingest(&common::numbered(&names), "names")
        .await
        .unwrap();
    assert!(!format!("{out:?}").contains("Refused"), "{out:?}");
    reg
}

async fn export(app: &axum::Router, iin: &str, degree: u8) -> String {
    let req = axum::http::Request::get(format!(
        "/v1/persons/{iin}/gedcom?degree={degree}&as_of={AS_OF}"
    ))
    .body(axum::body::Body::empty())
    .unwrap();
    let res = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/vnd.familysearch.gedcom"
    );
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The file read back by the parser: problems, people, families.
fn read_back(py: &Path, text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("family.ged");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gedcom/check.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the parser refused the file: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Everything the export must hold for `who`, compared with the graph.
fn compare(reg: &Registry, who: &str, degree: u8, got: &Value) {
    assert_eq!(got["problems"], Value::Array(vec![]), "{}", got["problems"]);
    let on = kinship::acts::parse_date(AS_OF).unwrap();
    let g = reg.graph();
    let me = g.person(Iin::parse(who).unwrap()).unwrap();
    let mut want: BTreeSet<String> = relations::all_of(&g, me, on, degree)
        .iter()
        .map(|r| g.iin(r.alter).to_string())
        .collect();
    want.insert(who.to_owned());
    let people = got["people"].as_array().unwrap();
    let have: BTreeSet<String> = people
        .iter()
        .map(|p| p["iin"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(have, want, "the people of {who} to degree {degree}");
    let families = got["families"].as_array().unwrap();
    let in_family = |h: Option<Iin>, w: Option<Iin>, child: Iin, pedi: &str| {
        families.iter().any(|f| {
            f["husband"].as_str().map(String::from) == h.map(|x| x.to_string())
                && f["wife"].as_str().map(String::from) == w.map(|x| x.to_string())
                && f["children"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!([child.to_string(), pedi]))
        })
    };
    for p in people {
        let iin = Iin::parse(p["iin"].as_str().unwrap()).unwrap();
        let x = g.person(iin).unwrap();
        let born = g.birth_date(x);
        assert_eq!(
            p["birth"].as_str().unwrap(),
            born.format("%-d %b %Y").to_string().to_uppercase(),
            "{iin}"
        );
        assert_eq!(
            p["birth_act"].as_str(),
            g.birth_record(x).map(|a| g.act_id(a)),
            "{iin}: the birth cites its record"
        );
        assert_eq!(
            p["sex"],
            if iin.sex() == kinship::iin::Sex::Male {
                "M"
            } else {
                "F"
            }
        );
        // Legal parents in the file: the child in their family, by birth
        // or by adoption.
        let legal = g.parents_on(x, on);
        let shown = |l: Option<kinship::graph::ParentLink>| {
            l.map(|l| g.iin(l.parent))
                .filter(|i| want.contains(&i.to_string()))
        };
        let (f, m) = (shown(legal.father), shown(legal.mother));
        if f.is_some() || m.is_some() {
            let adopted = [legal.father, legal.mother]
                .into_iter()
                .flatten()
                .any(|l| l.basis == kinship::graph::Basis::Adoption);
            let pedi = if adopted { "ADOPTED" } else { "BIRTH" };
            assert!(
                in_family(f, m, iin, pedi),
                "{iin}: {pedi} child of {f:?} and {m:?}"
            );
        }
        // Marriages among them, with their dates.
        for mar in g.marriages(x).filter(|m| m.since <= on) {
            let s = g.iin(mar.spouse);
            if !want.contains(&s.to_string()) {
                continue;
            }
            let (h, w) = if iin.sex() == kinship::iin::Sex::Male {
                (iin, s)
            } else {
                (s, iin)
            };
            let date = mar.since.format("%-d %b %Y").to_string().to_uppercase();
            assert!(
                families.iter().any(|f| f["husband"] == h.to_string()
                    && f["wife"] == w.to_string()
                    && f["married"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from(date.clone()))),
                "{h} and {w} married {date}"
            );
        }
    }
}

#[tokio::test]
async fn a_family_exports_as_valid_gedcom_7_and_reads_back() {
    let Some(py) = python() else { return };
    let db = common::TestDb::sqlite();
    let reg = registry(&db.url).await;
    let app = common::app(reg.clone()).await;
    let e = common::fixtures::iin_of("E");
    let text = export(&app, &e, 2).await;
    let got = read_back(&py, &text);
    compare(&reg, &e, 2, &got);
    let me = got["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["iin"] == e.as_str())
        .unwrap();
    assert_eq!(
        me["names"],
        serde_json::json!(["Ерлан Маратович /Ахметов/", "Ерлан /Ахмет/"]),
        "names over time"
    );
    // The father's first marriage, with its divorce, is in his file.
    let f = common::fixtures::iin_of("F");
    let got = read_back(&py, &export(&app, &f, 1).await);
    compare(&reg, &f, 1, &got);
    assert!(
        got["families"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["husband"] == f.as_str()
                && x["divorced"] == serde_json::json!(["3 MAR 1971"])),
        "{}",
        got["families"]
    );

    // An adopted child: the adoptive family and the birth family.
    let ks = common::fixtures::iin_of("KS");
    let got = read_back(&py, &export(&app, &ks, 2).await);
    compare(&reg, &ks, 2, &got);
    let famc: Vec<&str> = got["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["iin"] == ks.as_str())
        .unwrap()["famc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[1].as_str().unwrap())
        .collect();
    assert_eq!(famc, ["BIRTH", "ADOPTED"]);

    // The command line writes the same file, audited as the operator.
    reg.audit_settled().await.unwrap();
    let before = reg.ledger().audit_totals().await.unwrap().0;
    let out = Command::new(env!("CARGO_BIN_EXE_kinship"))
        .args(["export", "gedcom", &e, "--degree", "2", "--as-of", AS_OF])
        .args(["--purpose", "staff-check; case=GED-1", "--db", &db.url])
        .env("USER", "clerk")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    reg.audit_settled().await.unwrap();
    assert_eq!(reg.ledger().audit_totals().await.unwrap().0, before + 1);
    let lookups = axum::http::Request::get(format!("/v1/persons/{e}/lookups"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.clone(), lookups)
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["items"][0]["client"], "cli:clerk", "{v}");
    assert_eq!(v["items"][0]["route"], "CLI export gedcom");
}
