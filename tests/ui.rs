//! The staff page end to end in headless Chromium: `kinship serve` over
//! fixture 29 (with hostile names and a refused record added), driven by
//! `ui/tests/ui.test.mjs` (playwright-core). Screenshots are kept in
//! `target/ui-screenshots/`. Needs what `ui/tests/install.sh` installs;
//! without it the test says so and passes, unless KINSHIP_UI_TESTS is
//! `required` (CI sets it).

mod common;

use common::raw::{free_port, wait_ready};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn the_staff_page_works_in_a_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ui = root.join("ui");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists()
        && ui.join("node_modules/playwright-core").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ready {
        let why = "no Chromium, node or ui/node_modules (run ui/tests/install.sh)";
        assert_ne!(
            std::env::var("KINSHIP_UI_TESTS").as_deref(),
            Ok("required"),
            "{why}"
        );
        eprintln!("note: {why}; skipping the browser test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let bin = env!("CARGO_BIN_EXE_kinship");
    let e = common::fixtures::iin_of("E");
    let m = common::fixtures::iin_of("M");
    let mut data =
        std::fs::read_to_string(common::fixtures::dir().join("29-relation-names.ndjson")).unwrap();
    // Names that would run if put on the page as HTML; a right-to-left
    // mark and a name part of the longest length.
    let long = "Ж".repeat(99);
    data.push_str(&format!(
        "{}\n",
        serde_json::json!({"kind": "name_change", "act_id": "UI-N-1", "date": "2000-01-01", "person": e,
            "name": {"surname": "<script>window.pwned=1</script>", "given": "\"'><img src=x onerror=window.pwned=2>",
                     "patronymic": format!("\u{202e}{long}")}})
    ));
    // A refused record: a mother younger than 12.
    let child = kinship::iin::Iin::compose(
        chrono::NaiveDate::from_ymd_opt(1955, 1, 1).unwrap(),
        kinship::iin::Sex::Male,
        7101,
    )
    .unwrap()
    .to_string();
    data.push_str(&format!(
        "{}\n",
        serde_json::json!({"kind": "birth", "act_id": "UI-B-1", "date": "1955-01-01",
            "child": child, "mother": m})
    ));
    let file = dir.path().join("data.ndjson");
    std::fs::write(&file, data).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .arg("--db")
            .arg(&db)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["import", file.to_str().unwrap()]);
    let key = run(&["clients", "add", "clerk", "--scopes", "investigate,checks"]);
    let key = key.trim().to_owned();
    let port = free_port();
    let mut serve = Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_ready(addr);
    let shots = root.join("target/ui-screenshots");
    let out = Command::new("node")
        .arg(ui.join("tests/ui.test.mjs"))
        .args([&format!("http://127.0.0.1:{port}"), &key])
        .arg(&shots)
        .args([
            &e,
            &common::fixtures::iin_of("OB"),
            &common::fixtures::iin_of("ES"),
        ])
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
