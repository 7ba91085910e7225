//! One case per refusal code: a record that must be refused with exactly
//! that code, sent alone against the same base family. Together the cases
//! cover every code in `Code::ALL`.

mod common;

use common::TestDb;
use kinship::acts::Code;
use kinship::ledger::Ledger;
use kinship::registry::{Line, LineOutcome, Registry};
use std::collections::BTreeSet;

// People of the base family:
// H  720415300125 man, 1972      W  750101400219 woman, 1975
// C  010305500121 their son, 2001  X  850312300121 man, 1985
// Y  800505400019 woman, 1980    K  150601600016 Y's daughter, 2015
// O  400202300011 old man, died 2010   T  050707600011 girl, 2005
// T is adopted by Y in 2010 (AD1).
const BASE: &[&str] = &[
    r#"{"kind":"marriage","act_id":"M1","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    r#"{"kind":"birth","act_id":"B1","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125"}"#,
    r#"{"kind":"divorce","act_id":"R1","date":"2006-11-02","marriage_act":"M1"}"#,
    r#"{"kind":"marriage","act_id":"M2","date":"2008-01-01","spouses":["720415300125","800505400019"]}"#,
    r#"{"kind":"death","act_id":"D1","date":"2010-01-05","person":"400202300011","died":"2010-01-01"}"#,
    r#"{"kind":"birth","act_id":"BK","date":"2015-06-05","child":"150601600016","mother":"800505400019"}"#,
    r#"{"kind":"paternity","act_id":"P1","date":"2016-01-01","child":"150601600016","father":"850312300121"}"#,
    r#"{"kind":"marriage","act_id":"M3","date":"2010-05-05","spouses":["850312300121","750101400219"]}"#,
    r#"{"kind":"annulment","act_id":"AN1","date":"2011-01-01","target_act":"M3"}"#,
    r#"{"kind":"adoption","act_id":"AD1","date":"2010-06-01","child":"050707600011","adoptive_mother":"800505400019"}"#,
];

const CASES: &[(Code, &str)] = &[
    (Code::InvalidUtf8, "{\"kind\":\"b\u{FFFD}\"}"), // replaced below by a real bad byte
    (Code::LineTooLong, ""),                         // built below
    (Code::MalformedJson, r#"{"kind":"birth","#),
    (Code::NotAnObject, r#""birth""#),
    (Code::UnknownKind, r#"{"kind":"wedding","act_id":"Q"}"#),
    (
        Code::UnknownField,
        r#"{"kind":"divorce","act_id":"Q","date":"2007-01-01","marriage_act":"M2","reason":"x"}"#,
    ),
    (
        Code::MissingField,
        r#"{"kind":"divorce","act_id":"Q","date":"2007-01-01"}"#,
    ),
    (
        Code::InvalidField,
        r#"{"kind":"marriage","act_id":"Q","date":"2007-01-01","spouses":"720415300125"}"#,
    ),
    (
        Code::InvalidIin,
        r#"{"kind":"death","act_id":"Q","date":"2007-01-01","person":"720415300126"}"#,
    ),
    (
        Code::InvalidDate,
        r#"{"kind":"death","act_id":"Q","date":"2007-02-29","person":"720415300125"}"#,
    ),
    (
        Code::InvalidActId,
        r#"{"kind":"death","act_id":"Q Q","date":"2007-01-01","person":"720415300125"}"#,
    ),
    (
        Code::InvalidName,
        r#"{"kind":"name_change","act_id":"Q","date":"2007-01-01","person":"720415300125","name":{"surname":"","given":"A"}}"#,
    ),
    (
        Code::InvalidDwelling,
        r#"{"kind":"residence","act_id":"Q","person":"720415300125","dwelling":" ","from":"2007-01-01"}"#,
    ),
    (
        Code::ActIdConflict,
        r#"{"kind":"marriage","act_id":"M1","date":"1998-06-21","spouses":["720415300125","750101400219"]}"#,
    ),
    (
        Code::UnknownAct,
        r#"{"kind":"divorce","act_id":"Q","date":"2007-01-01","marriage_act":"NOPE"}"#,
    ),
    (
        Code::WrongActKind,
        r#"{"kind":"divorce","act_id":"Q","date":"2007-01-01","marriage_act":"B1"}"#,
    ),
    (
        Code::ActAnnulled,
        r#"{"kind":"divorce","act_id":"Q","date":"2012-01-01","marriage_act":"M3"}"#,
    ),
    (
        Code::AlreadyAnnulled,
        r#"{"kind":"annulment","act_id":"Q","date":"2012-01-01","target_act":"M3"}"#,
    ),
    (
        Code::NotAnnullable,
        r#"{"kind":"annulment","act_id":"Q","date":"2012-01-01","target_act":"AN1"}"#,
    ),
    (
        Code::AnnulmentBeforeAct,
        r#"{"kind":"annulment","act_id":"Q","date":"2000-01-01","target_act":"B1"}"#,
    ),
    (
        Code::SamePerson,
        r#"{"kind":"marriage","act_id":"Q","date":"2020-01-01","spouses":["850312300121","850312300121"]}"#,
    ),
    (
        Code::ParentBornAfterChild,
        r#"{"kind":"birth","act_id":"Q","date":"1990-01-05","child":"900101300017","mother":"050707600011"}"#,
    ),
    (
        Code::ParentSexMismatch,
        r#"{"kind":"birth","act_id":"Q","date":"1990-01-05","child":"900101300017","mother":"400202300011"}"#,
    ),
    (
        // T (born 2005) would be a mother at 10.
        Code::ParentTooYoung,
        r#"{"kind":"birth","act_id":"Q","date":"2016-01-05","child":"160101500013","mother":"050707600011"}"#,
    ),
    (
        // O died 2010-01-01, two years before the birth.
        Code::ParentDiedBeforeBirth,
        r#"{"kind":"birth","act_id":"Q","date":"2012-01-05","child":"120101500016","mother":"800505400019","father":"400202300011"}"#,
    ),
    (
        // AD1 already gives T an adoptive mother from that day.
        Code::ParentRoleTaken,
        r#"{"kind":"adoption","act_id":"Q","date":"2010-06-01","child":"050707600011","adoptive_mother":"750101400219"}"#,
    ),
    (
        Code::BirthAlreadyRegistered,
        r#"{"kind":"birth","act_id":"Q","date":"2001-03-10","child":"010305500121","mother":"750101400219"}"#,
    ),
    (
        Code::FatherAlreadyRecorded,
        r#"{"kind":"paternity","act_id":"Q","date":"2017-01-01","child":"150601600016","father":"720415300125"}"#,
    ),
    (
        Code::NoAdoptiveParent,
        r#"{"kind":"adoption","act_id":"Q","date":"2017-01-01","child":"150601600016"}"#,
    ),
    (
        Code::DateBeforeBirth,
        r#"{"kind":"name_change","act_id":"Q","date":"1999-01-01","person":"010305500121","name":{"surname":"A","given":"B"}}"#,
    ),
    (
        Code::PersonDead,
        r#"{"kind":"adoption","act_id":"Q","date":"2012-01-01","child":"050707600011","adoptive_father":"400202300011"}"#,
    ),
    (
        Code::EventAfterDeath,
        r#"{"kind":"death","act_id":"Q","date":"2007-01-02","person":"800505400019","died":"2007-01-01"}"#,
    ),
    (
        Code::SpouseUnderage,
        r#"{"kind":"marriage","act_id":"Q","date":"2018-01-01","spouses":["850312300121","050707600011"]}"#,
    ),
    (
        Code::SameSexSpouses,
        r#"{"kind":"marriage","act_id":"Q","date":"2020-01-01","spouses":["850312300121","720415300125"]}"#,
    ),
    (
        // W and her son C.
        Code::CloseRelatives,
        r#"{"kind":"marriage","act_id":"Q","date":"2020-01-01","spouses":["750101400219","010305500121"]}"#,
    ),
    (
        Code::AlreadyMarried,
        r#"{"kind":"marriage","act_id":"Q","date":"2009-01-01","spouses":["720415300125","050707600011"]}"#,
    ),
    (
        Code::MarriageEnded,
        r#"{"kind":"divorce","act_id":"Q","date":"2007-01-01","marriage_act":"M1"}"#,
    ),
    (
        Code::DivorceBeforeMarriage,
        r#"{"kind":"divorce","act_id":"Q","date":"2007-01-01","marriage_act":"M2"}"#,
    ),
    (
        Code::MarriageOverlap,
        r#"{"kind":"annulment","act_id":"Q","date":"2012-01-01","target_act":"R1"}"#,
    ),
    (
        Code::DeathAlreadyRegistered,
        r#"{"kind":"death","act_id":"Q","date":"2011-01-01","person":"400202300011"}"#,
    ),
    (
        Code::DeathBeforeBirth,
        r#"{"kind":"death","act_id":"Q","date":"2001-01-01","person":"010305500121","died":"2000-01-01"}"#,
    ),
    (
        Code::RegisteredBeforeEvent,
        r#"{"kind":"death","act_id":"Q","date":"2020-01-01","person":"010305500121","died":"2020-01-02"}"#,
    ),
    (
        Code::DateInFuture,
        r#"{"kind":"name_change","act_id":"Q","date":"2999-01-01","person":"010305500121","name":{"surname":"A","given":"B"}}"#,
    ),
    (
        Code::InvalidPeriod,
        r#"{"kind":"residence","act_id":"Q","person":"010305500121","dwelling":"D1","from":"2020-01-01","to":"2019-01-01"}"#,
    ),
];

fn case_line(code: Code, text: &str) -> Line {
    let bytes = match code {
        Code::InvalidUtf8 => b"{\"kind\":\"b\xff\"}".to_vec(),
        Code::LineTooLong => format!("{{\"kind\":\"{}\"}}", "x".repeat(1 << 20)).into_bytes(),
        _ => text.as_bytes().to_vec(),
    };
    Line::new(1, bytes)
}

#[tokio::test]
async fn every_refusal_code_has_a_case_and_gets_it() {
    let covered: BTreeSet<Code> = CASES.iter().map(|(c, _)| *c).collect();
    let all: BTreeSet<Code> = Code::ALL.iter().copied().collect();
    assert_eq!(covered, all, "every code needs a case here");

    let db = TestDb::sqlite();
    let reg = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    let base: Vec<Line> = BASE
        .iter()
        .enumerate()
        .map(|(i, s)| Line::new(i as u64 + 1, s.as_bytes().to_vec()))
        .collect();
    let out = reg.ingest(&base, "base").await.unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, LineOutcome::Accepted { .. })),
        "base family: {out:?}"
    );
    let before = reg.graph().canonical();

    let mut wrong = Vec::new();
    for (code, text) in CASES {
        let out = reg.ingest(&[case_line(*code, text)], "case").await.unwrap();
        match &out[0] {
            LineOutcome::Refused {
                code: got, detail, ..
            } => {
                if got != code {
                    wrong.push(format!("{code}: got {got} ({detail}) for {text}"));
                } else if detail.is_empty() {
                    wrong.push(format!("{code}: empty detail"));
                }
            }
            other => wrong.push(format!("{code}: not refused but {other:?} for {text}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        reg.graph().canonical(),
        before,
        "a refused record changed the graph"
    );
    assert_eq!(reg.ledger().last_seq().await.unwrap(), BASE.len() as i64);
    let kept = reg.ledger().refused(0, 1000, None).await.unwrap();
    assert_eq!(kept.len(), CASES.len(), "every refused record is kept");
}

/// What really happens is not refused: a child born after the father's
/// death and registered after the mother's, a birth registered years late,
/// paternity established after the father's death, a birth re-registered
/// once the first record was annulled, remarriage after a divorce.
#[tokio::test]
async fn what_really_happens_is_accepted() {
    let db = TestDb::sqlite();
    let reg = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    let records = [
        // O (old man) died 2010-01-01 (BASE).
        r#"{"kind":"death","act_id":"D9","date":"2012-01-01","person":"750101400219","died":"2011-12-30"}"#,
        // Born 2010-10-10, after the father died; registered in 2013, after the mother died.
        r#"{"kind":"birth","act_id":"B9","date":"2013-02-01","child":"101010600017","mother":"750101400219","father":"400202300011"}"#,
        // A birth in 1990 registered in 2020.
        r#"{"kind":"birth","act_id":"B10","date":"2020-01-01","child":"900101300017","mother":"750101400219"}"#,
        // Paternity after the father's death.
        r#"{"kind":"paternity","act_id":"P9","date":"2021-01-01","child":"900101300017","father":"400202300011"}"#,
        // Annul and re-register K's birth.
        r#"{"kind":"annulment","act_id":"AN9","date":"2022-01-01","target_act":"BK"}"#,
        r#"{"kind":"birth","act_id":"BK2","date":"2022-02-01","child":"150601600016","mother":"800505400019"}"#,
        // C marries, divorces, and remarries the same person.
        r#"{"kind":"marriage","act_id":"M10","date":"2022-01-01","spouses":["010305500121","050707600011"]}"#,
        r#"{"kind":"divorce","act_id":"R10","date":"2023-01-01","marriage_act":"M10"}"#,
        r#"{"kind":"marriage","act_id":"M11","date":"2024-01-01","spouses":["010305500121","050707600011"]}"#,
    ];
    let base: Vec<Line> = BASE
        .iter()
        .chain(records.iter())
        .enumerate()
        .map(|(i, s)| Line::new(i as u64 + 1, s.as_bytes().to_vec()))
        .collect();
    for (l, o) in base.iter().zip(reg.ingest(&base, "real").await.unwrap()) {
        assert!(
            matches!(o, LineOutcome::Accepted { .. }),
            "{}: {o:?}",
            String::from_utf8_lossy(&l.bytes)
        );
    }
}
