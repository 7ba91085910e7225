//! The `kinship` binary: import prints a summary and exits 0 even when
//! records are refused; refused lists them; failures exit non-zero.

mod common;

use std::process::Command;

fn kinship(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinship"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn import_then_list_refused() {
    let db = common::TestDb::sqlite();
    let file = common::fixtures::dir().join("08-divorce.ndjson");
    let out = kinship(&["import", file.to_str().unwrap(), "--db", &db.url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("accepted    3"), "{stdout}");
    assert!(stdout.contains("refused     2"), "{stdout}");
    assert!(stdout.contains("divorce_before_marriage"), "{stdout}");

    // Importing again: everything accepted before is a duplicate.
    let out = kinship(&["import", file.to_str().unwrap(), "--db", &db.url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("accepted    0") && stdout.contains("duplicates  3"),
        "{stdout}"
    );

    let out = kinship(&[
        "refused",
        "--db",
        &db.url,
        "--code",
        "unknown_act",
        "--json",
    ]);
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "refused on both imports");
    assert!(rows.iter().all(|r| {
        r["code"] == "unknown_act"
            && r["source"]
                .as_str()
                .unwrap()
                .starts_with("08-divorce.ndjson:")
    }));
}

#[test]
fn a_snapshot_is_written_and_used_at_the_next_start() {
    let db = common::TestDb::sqlite();
    let file = common::fixtures::dir().join("14-grandparents-both-sides.ndjson");
    assert!(
        kinship(&["import", file.to_str().unwrap(), "--db", &db.url])
            .status
            .success()
    );
    let out = kinship(&["snapshot", "--db", &db.url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(".snapshots/snapshot-"), "{stdout}");
    let out = kinship(&["stats", "--db", &db.url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("replayed         0 records"), "{stdout}");
    assert!(stdout.contains("(seq "), "{stdout}");
    let out = kinship(&["stats", "--db", &db.url, "--no-snapshots"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("snapshot         none"), "{stdout}");
}

#[test]
fn io_failures_exit_non_zero() {
    let db = common::TestDb::sqlite();
    let out = kinship(&["import", "/nonexistent/file.ndjson", "--db", &db.url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("opening /nonexistent/file.ndjson"));
    let out = kinship(&["refused", "--db", "mysql://nowhere"]);
    assert!(!out.status.success());
}

#[test]
fn help_lists_every_command() {
    let out = kinship(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["import", "refused", "serve", "demo", "snapshot", "stats"] {
        assert!(text.contains(cmd), "--help lacks {cmd}: {text}");
    }
}
