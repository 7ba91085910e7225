//! The write path: bad input is refused record by record, kept with its
//! reason, and never changes the ledger or the graph; duplicates are
//! recognised by meaning; a failed batch leaves nothing half applied.

mod common;

use common::{Backend, TestDb};
use kinship::acts::Code;
use kinship::ledger::Ledger;
use kinship::registry::{IngestReport, Line, LineOutcome, Registry};

fn line(no: u64, s: &str) -> Line {
    Line::new(no, s.as_bytes().to_vec())
}

const FAMILY: &[&str] = &[
    r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125","name":{"surname":"Ахметов","given":"Ерлан","patronymic":"Маратович"}}"#,
    r#"{"kind":"divorce","act_id":"R-2006-0003","date":"2006-11-02","marriage_act":"M-1998-0001"}"#,
    r#"{"kind":"death","act_id":"D-2019-0004","date":"2019-01-15","person":"720415300125"}"#,
    r#"{"kind":"residence","act_id":"REG-77","person":"010305500121","dwelling":"21:320:045:112:17","from":"2020-01-10"}"#,
];

async fn open(url: &str) -> Registry {
    Registry::open(Ledger::open(url).await.unwrap())
        .await
        .unwrap()
}

async fn mixed_file_keeps_good_and_refuses_each_bad(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let reg = open(&db.url).await;
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice(FAMILY[0].as_bytes());
    input.extend_from_slice(b"\n{\"kind\":\"marriage\",\"act_id\":\n"); // malformed
    input.extend_from_slice(FAMILY[1].as_bytes());
    input.extend_from_slice(b"\n\n{\"kind\":\"birth\",\"act_id\":\"B-\xff\"}\n"); // blank, then non-UTF-8
    input.extend_from_slice(format!("{}\n", "[".repeat(5000)).as_bytes()); // deep nesting
    input.extend_from_slice(
        format!(
            "{{\"kind\":\"birth\",\"act_id\":\"{}\"}}\n",
            "x".repeat(4 << 20)
        )
        .as_bytes(),
    ); // 4 MiB
    input.extend_from_slice(br#"{"kind":"wedding","act_id":"W-1"}"#);
    input.push(b'\n');
    input.extend_from_slice(FAMILY[0].as_bytes()); // duplicate
    input.push(b'\n');
    input.extend_from_slice(FAMILY[2].as_bytes());
    input.extend_from_slice(
        b"\n{\"kind\":\"death\",\"act_id\":\"D-9\",\"date\":\"2019-01-15\",\"pers",
    ); // truncated last line
    let lines: Vec<Line> = kinship::registry::Lines::new(&input[..])
        .map(Result::unwrap)
        .collect();
    assert_eq!(lines.len(), 10);
    let outcomes = reg.ingest(&lines, "mixed.ndjson").await.unwrap();
    let mut report = IngestReport::default();
    report.add(&outcomes);
    assert_eq!(
        (report.accepted, report.duplicates, report.refused_total()),
        (3, 1, 6)
    );
    assert_eq!(
        report.accepted + report.duplicates + report.refused_total(),
        lines.len() as u64
    );
    let codes: Vec<(u64, Code)> = lines
        .iter()
        .zip(&outcomes)
        .filter_map(|(l, o)| match o {
            LineOutcome::Refused { code, .. } => Some((l.no, *code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (2, Code::MalformedJson),
            (5, Code::InvalidUtf8),
            (6, Code::MalformedJson),
            (7, Code::LineTooLong),
            (8, Code::UnknownKind),
            (11, Code::MalformedJson),
        ]
    );
    // Kept, with the raw line, its source and reason.
    let refused = reg.ledger().refused(0, 100, None).await.unwrap();
    assert_eq!(refused.len(), 6);
    assert_eq!(refused[0].source, "mixed.ndjson:2");
    assert_eq!(refused[0].raw, "{\"kind\":\"marriage\",\"act_id\":");
    assert_eq!(refused[3].raw_bytes, (4 << 20) + 28);
    assert_eq!(refused[3].raw.len(), kinship::acts::MAX_LINE_BYTES);
    assert_eq!(refused[4].act_id.as_deref(), Some("W-1"));
    assert_eq!(reg.ledger().last_seq().await.unwrap(), 3);
    reg.ledger().close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn mixed_file_sqlite() {
    mixed_file_keeps_good_and_refuses_each_bad(Backend::Sqlite).await;
}

#[tokio::test]
async fn mixed_file_postgres() {
    mixed_file_keeps_good_and_refuses_each_bad(Backend::Postgres).await;
}

#[tokio::test]
async fn a_refused_record_changes_neither_ledger_nor_graph() {
    let db = TestDb::sqlite();
    let reg = open(&db.url).await;
    let family: Vec<Line> = FAMILY
        .iter()
        .enumerate()
        .map(|(i, s)| line(i as u64 + 1, s))
        .collect();
    reg.ingest(&family, "f").await.unwrap();
    let before = reg.graph().canonical();
    let seq = reg.ledger().last_seq().await.unwrap();
    let bad = [
        // a second marriage while the first is in force (the first ended 2006)
        r#"{"kind":"marriage","act_id":"M-2","date":"2003-01-01","spouses":["720415300125","850312400128"]}"#,
        // birth re-registered without annulment; names a new mother
        r#"{"kind":"birth","act_id":"B-2","date":"2001-03-09","child":"010305500121","mother":"800505400019"}"#,
        // divorce of an already dissolved marriage
        r#"{"kind":"divorce","act_id":"R-2","date":"2007-01-01","marriage_act":"M-1998-0001"}"#,
        // same act id, other content
        r#"{"kind":"death","act_id":"D-2019-0004","date":"2019-01-16","person":"720415300125"}"#,
    ];
    let lines: Vec<Line> = bad
        .iter()
        .enumerate()
        .map(|(i, s)| line(i as u64 + 1, s))
        .collect();
    let out = reg.ingest(&lines, "bad").await.unwrap();
    let codes: Vec<Code> = out
        .iter()
        .map(|o| match o {
            LineOutcome::Refused { code, .. } => *code,
            other => panic!("accepted: {other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            Code::AlreadyMarried,
            Code::BirthAlreadyRegistered,
            Code::MarriageEnded,
            Code::ActIdConflict
        ]
    );
    assert_eq!(reg.graph().canonical(), before);
    assert_eq!(reg.ledger().last_seq().await.unwrap(), seq);
    // 850312400128 appeared only in refused records: no node for them.
    let stranger = kinship::iin::Iin::parse("850312400128").unwrap();
    assert!(reg.graph().person(stranger).is_none());
}

#[tokio::test]
async fn the_same_body_twice_is_all_duplicates_compared_by_meaning() {
    let db = TestDb::sqlite();
    let reg = open(&db.url).await;
    let first: Vec<Line> = FAMILY
        .iter()
        .enumerate()
        .map(|(i, s)| line(i as u64 + 1, s))
        .collect();
    let out = reg.ingest(&first, "a").await.unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, LineOutcome::Accepted { .. })),
        "{out:?}"
    );
    // The same records with fields reordered, defaults spelled out, nulls added.
    let again = [
        r#"{"spouses":["720415300125","750101400219"],"date":"1998-06-20","act_id":"M-1998-0001","kind":"marriage"}"#,
        FAMILY[1],
        r#"{"kind":"divorce","act_id":"R-2006-0003","marriage_act":"M-1998-0001","date":"2006-11-02"}"#,
        r#"{"kind":"death","act_id":"D-2019-0004","date":"2019-01-15","person":"720415300125","died":"2019-01-15","basis":"registered"}"#,
        r#"{"kind":"residence","act_id":"REG-77","person":"010305500121","dwelling":"21:320:045:112:17","from":"2020-01-10","to":null,"type":"permanent"}"#,
    ];
    let lines: Vec<Line> = again
        .iter()
        .enumerate()
        .map(|(i, s)| line(i as u64 + 1, s))
        .collect();
    let out = reg.ingest(&lines, "b").await.unwrap();
    let seqs: Vec<i64> = out
        .iter()
        .map(|o| match o {
            LineOutcome::Duplicate { seq } => *seq,
            other => panic!("not a duplicate: {other:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}

/// A batch whose transaction fails is rolled back in the graph and retried
/// record by record; the record that cannot be written stops the import
/// (a database failure), and the graph still equals the ledger.
#[tokio::test]
async fn a_failed_batch_is_rolled_back_and_retried_one_by_one() {
    let db = TestDb::sqlite();
    let reg = open(&db.url).await;
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.url))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_d BEFORE INSERT ON acts WHEN NEW.act_id = 'D-2019-0004' \
         BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let lines: Vec<Line> = FAMILY
        .iter()
        .enumerate()
        .map(|(i, s)| line(i as u64 + 1, s))
        .collect();
    let err = reg.ingest(&lines, "f").await.unwrap_err();
    assert!(err.to_string().contains("disk on fire"), "{err}");
    // Records before the failing one were written one by one; nothing after.
    assert_eq!(reg.ledger().last_seq().await.unwrap(), 3);
    let replayed = open(&db.url).await;
    assert_eq!(reg.graph().canonical(), replayed.graph().canonical());
    let g = reg.graph();
    let husband = g
        .person(kinship::iin::Iin::parse("720415300125").unwrap())
        .unwrap();
    assert_eq!(
        g.death(husband),
        None,
        "the death whose write failed must not be in the graph"
    );
}

#[tokio::test]
async fn records_refer_only_to_acts_known_before_them() {
    let db = TestDb::sqlite();
    let reg = open(&db.url).await;
    // The divorce arrives before its marriage: refused, and accepted when resent.
    let out = reg
        .ingest(&[line(1, FAMILY[2]), line(2, FAMILY[0])], "x")
        .await
        .unwrap();
    assert!(
        matches!(
            out[0],
            LineOutcome::Refused {
                code: Code::UnknownAct,
                ..
            }
        ),
        "{out:?}"
    );
    let out = reg.ingest(&[line(1, FAMILY[2])], "y").await.unwrap();
    assert!(
        matches!(out[0], LineOutcome::Accepted { seq: 2 }),
        "{out:?}"
    );
}

/// Two processes writing one ledger: the second one's write clashes and is
/// reported as a database failure, not as a refusal of a good record.
#[tokio::test]
async fn a_second_writer_is_an_error_not_a_refusal() {
    let db = TestDb::sqlite();
    let a = open(&db.url).await;
    let b = open(&db.url).await;
    a.ingest(&[line(1, FAMILY[0])], "a").await.unwrap();
    let err = b
        .ingest(&[line(1, FAMILY[4]), line(2, FAMILY[3])], "b")
        .await
        .unwrap_err();
    assert!(
        matches!(err, kinship::ledger::LedgerError::ConcurrentWriter(_)),
        "{err}"
    );
    assert!(
        b.ledger().refused(0, 10, None).await.unwrap().is_empty(),
        "nothing refused"
    );
    assert_eq!(a.ledger().last_seq().await.unwrap(), 1);
    // A restarted process catches up and writes.
    let c = open(&db.url).await;
    let out = c.ingest(&[line(1, FAMILY[4])], "c").await.unwrap();
    assert!(
        matches!(out[0], LineOutcome::Accepted { seq: 2 }),
        "{out:?}"
    );
}
