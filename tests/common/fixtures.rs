//! The fixture families of `graph-fixtures/`: their `.expect` grammar, and
//! a runner that checks every statement against the library.

use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::registry::{Line, LineOutcome, Lines, Registry};
use std::path::{Path, PathBuf};

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("graph-fixtures")
}

/// Every family: (name, ndjson path, expect path).
pub fn all() -> Vec<(String, PathBuf, PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(dir())
        .expect("graph-fixtures/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let expect = p.with_extension("expect");
            (name, p, expect)
        })
        .collect();
    v.sort();
    v
}

pub fn lines(path: &Path) -> Vec<Line> {
    Lines::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .map(Result::unwrap)
        .collect()
}

/// One statement of an `.expect` file: what is asked and the answer as text.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub line: usize,
    pub what: What,
    /// The expected answer, normalised (see `normalise`).
    pub expected: String,
}

#[derive(Clone, Debug)]
pub enum What {
    Parents {
        iin: String,
        date: String,
    },
    Children {
        iin: String,
        date: String,
    },
    Spouse {
        iin: String,
        date: String,
    },
    Household {
        dwelling: String,
        date: String,
    },
    Refused {
        act_id: String,
    },
    /// The claims other than CLAIM that hold (`also`).
    Also {
        owner: String,
        applicant: String,
        claim: String,
        via: Option<String>,
        date: String,
    },
    /// The date of death an answer on DATE shows.
    Died {
        iin: String,
        date: String,
    },
    Check {
        owner: String,
        applicant: String,
        claim: String,
        via: Option<String>,
        date: String,
    },
    /// Every relation the finder names between two persons (`relation`).
    Relation {
        a: String,
        b: String,
        date: String,
        degree: Option<u8>,
    },
    Summary,
}

/// `confirmed [relation] (a, b)` with the evidence sorted, or `refused reason`.
fn normalise_check(s: &str) -> String {
    match s.split_once('(') {
        Some((head, rest)) => {
            let mut ev: Vec<&str> = rest
                .trim_end_matches(')')
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect();
            ev.sort();
            format!(
                "{} ({})",
                head.split_whitespace().collect::<Vec<_>>().join(" "),
                ev.join(", ")
            )
        }
        None => s.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Sorts comma-separated items (order is free where the grammar says so)
/// and trims spaces, so answers compare as text.
pub fn normalise(s: &str, sort: bool) -> String {
    let mut items: Vec<String> = s
        .split(',')
        .map(|x| x.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    if sort {
        items.sort();
    }
    items.join(", ")
}

pub fn parse_expect(path: &Path) -> Vec<Stmt> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (head, answer) = l
            .split_once(':')
            .map(|(h, a)| (h.trim(), a.trim()))
            .unwrap_or((l, ""));
        // `household` dwellings may contain ':'; split at the date instead.
        let (head, answer) = if l.starts_with("household ") || l.starts_with("refused ") {
            let idx = l
                .rfind(": ")
                .unwrap_or_else(|| panic!("{}:{}: no answer", path.display(), i + 1));
            (l[..idx].trim(), l[idx + 1..].trim())
        } else {
            (head, answer)
        };
        let words: Vec<&str> = head.split_whitespace().collect();
        let what = match words.as_slice() {
            ["parents", iin, date] => What::Parents {
                iin: iin.to_string(),
                date: date.to_string(),
            },
            ["children", iin, date] => What::Children {
                iin: iin.to_string(),
                date: date.to_string(),
            },
            ["spouse", iin, date] => What::Spouse {
                iin: iin.to_string(),
                date: date.to_string(),
            },
            ["household", dwelling, date] => What::Household {
                dwelling: dwelling.to_string(),
                date: date.to_string(),
            },
            ["refused", act_id] => What::Refused {
                act_id: act_id.to_string(),
            },
            ["check", owner, applicant, claim, date] => What::Check {
                owner: owner.to_string(),
                applicant: applicant.to_string(),
                claim: claim.to_string(),
                via: None,
                date: date.to_string(),
            },
            ["check", owner, applicant, claim, "via", side, date] => What::Check {
                owner: owner.to_string(),
                applicant: applicant.to_string(),
                claim: claim.to_string(),
                via: Some(side.to_string()),
                date: date.to_string(),
            },
            ["also", owner, applicant, claim, date] => What::Also {
                owner: owner.to_string(),
                applicant: applicant.to_string(),
                claim: claim.to_string(),
                via: None,
                date: date.to_string(),
            },
            ["also", owner, applicant, claim, "via", side, date] => What::Also {
                owner: owner.to_string(),
                applicant: applicant.to_string(),
                claim: claim.to_string(),
                via: Some(side.to_string()),
                date: date.to_string(),
            },
            ["died", iin, date] => What::Died {
                iin: iin.to_string(),
                date: date.to_string(),
            },
            ["relation", a, b, date] => What::Relation {
                a: a.to_string(),
                b: b.to_string(),
                date: date.to_string(),
                degree: None,
            },
            ["relation", a, b, date, "degree", n] => What::Relation {
                a: a.to_string(),
                b: b.to_string(),
                date: date.to_string(),
                degree: Some(n.parse().expect("a degree")),
            },
            ["summary"] => What::Summary,
            _ => panic!("{}:{}: unknown statement {l:?}", path.display(), i + 1),
        };
        let sort = matches!(
            what,
            What::Children { .. }
                | What::Household { .. }
                | What::Also { .. }
                | What::Relation { .. }
        );
        let expected = if matches!(what, What::Check { .. }) {
            normalise_check(answer)
        } else {
            normalise(answer, sort)
        };
        out.push(Stmt {
            line: i + 1,
            what,
            expected,
        });
    }
    out
}

/// What the library answers for a graph/ledger question, in `.expect` text.
pub async fn answer(reg: &Registry, what: &What) -> String {
    // The one question answered from the ledger, before the graph is read.
    if let What::Household { dwelling, date } = what {
        let on = kinship::acts::parse_date(date).expect("fixture date");
        let items: Vec<String> = reg
            .household(dwelling, on)
            .await
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r.iin, r.kind.as_str()))
            .collect();
        return if items.is_empty() {
            "none".into()
        } else {
            normalise(&items.join(", "), true)
        };
    }
    let g = reg.graph();
    let date = |d: &str| kinship::acts::parse_date(d).expect("fixture date");
    let person = |iin: &str| g.person(Iin::parse(iin).expect("fixture IIN"));
    let text = match what {
        What::Parents { iin, date: d } => {
            let Some(p) = person(iin) else {
                return "none".into();
            };
            let ps = g.parents_on(p, date(d));
            let items: Vec<String> = [ps.mother, ps.father]
                .into_iter()
                .flatten()
                .map(|l| {
                    format!(
                        "{} {} ({})",
                        l.role.as_str(),
                        g.iin(l.parent),
                        g.act_id(l.act)
                    )
                })
                .collect();
            items.join(", ")
        }
        What::Children { iin, date: d } => {
            let Some(p) = person(iin) else {
                return "none".into();
            };
            let items: Vec<String> = g
                .children_on(p, date(d))
                .map(|c| format!("{} ({})", g.iin(c.child), g.act_id(c.act)))
                .collect();
            items.join(", ")
        }
        What::Spouse { iin, date: d } => {
            let Some(p) = person(iin) else {
                return "none".into();
            };
            g.spouse_on(p, date(d))
                .map(|m| format!("{} ({})", g.iin(m.spouse), g.act_id(m.act)))
                .unwrap_or_default()
        }
        What::Check {
            owner,
            applicant,
            claim,
            via,
            date: d,
        } => {
            let claim =
                kinship::resolve::Claim::parse(claim, via.as_deref()).expect("fixture claim");
            let v = kinship::resolve::check(&g, person(owner), person(applicant), claim, date(d));
            let text = if v.confirmed {
                let ev: Vec<&str> = v.evidence.iter().map(|a| g.act_id(*a)).collect();
                match v.in_law {
                    Some(k) => format!("confirmed {} ({})", k.name(), ev.join(", ")),
                    None => format!("confirmed ({})", ev.join(", ")),
                }
            } else {
                format!("refused {}", v.reason.expect("a reason").code())
            };
            return normalise_check(&text);
        }
        What::Also {
            owner,
            applicant,
            claim,
            via,
            date: d,
        } => {
            let claim =
                kinship::resolve::Claim::parse(claim, via.as_deref()).expect("fixture claim");
            let (Some(o), Some(a)) = (person(owner), person(applicant)) else {
                return "none".into();
            };
            let items: Vec<String> = kinship::resolve::also(&g, o, a, claim, date(d))
                .into_iter()
                .map(|(c, k)| also_item(c.name(), c.via().map(|s| s.as_str()), k.map(|k| k.name())))
                .collect();
            items.join(", ")
        }
        What::Died { iin, date: d } => person(iin)
            .and_then(|p| g.death_on(p, date(d)))
            .map(|x| x.to_string())
            .unwrap_or_default(),
        What::Relation {
            a,
            b,
            date: d,
            degree,
        } => {
            use kinship::resolve::relations;
            let (Some(a), Some(b)) = (person(a), person(b)) else {
                return "none".into();
            };
            let degree = degree.unwrap_or(relations::DEFAULT_DEGREE);
            relations::between(&g, a, b, date(d), degree)
                .iter()
                .map(|r| relation_item(&r.shape, &r.names.ru, &r.names.kk, &r.names.en))
                .collect::<Vec<_>>()
                .join(", ")
        }
        What::Refused { .. } | What::Summary | What::Household { .. } => {
            unreachable!("answered from the import outcomes or above")
        }
    };
    let sort = matches!(
        what,
        What::Children { .. } | What::Household { .. } | What::Also { .. } | What::Relation { .. }
    );
    if text.is_empty() {
        "none".into()
    } else {
        normalise(&text, sort)
    }
}

/// One `relation` item as the grammar writes it: `SHAPE ru / kk / en`.
pub fn relation_item(shape: &str, ru: &str, kk: &str, en: &str) -> String {
    format!("{shape} {ru} / {kk} / {en}")
}

/// One `also` item as the grammar writes it: `claim [via side] [relation]`.
pub fn also_item(claim: &str, via: Option<&str>, relation: Option<&str>) -> String {
    let mut s = claim.to_owned();
    if let Some(v) = via {
        s += &format!(" via {v}");
    }
    if let Some(r) = relation {
        s += &format!(" {r}");
    }
    s
}

/// The mirror of an in-law relation: what the first party is to the other.
fn mirror(kind: &str) -> String {
    let inverse = |r: &str| {
        match r {
            "parent" => "child",
            "child" => "parent",
            "grandparent" => "grandchild",
            "grandchild" => "grandparent",
            other => other,
        }
        .to_owned()
    };
    match kind.split_once('_') {
        Some(("spouse", rel)) => format!("{}_spouse", inverse(rel)),
        Some((rel, "spouse")) => format!("spouse_{}", inverse(rel)),
        _ => kind.to_owned(),
    }
}

/// Library-side properties of a check statement beyond its expected
/// answer: the detail is true of the records (see `truth`), and the
/// symmetric claims answer the same with owner and applicant swapped (the
/// in-law one naming its mirror, with the same evidence).
async fn check_properties(
    reg: &Registry,
    records: &super::truth::Records,
    what: &What,
) -> Vec<String> {
    let What::Check {
        owner,
        applicant,
        claim,
        via,
        date,
    } = what
    else {
        return vec![];
    };
    let g = reg.graph();
    let on = kinship::acts::parse_date(date).unwrap();
    let (o, a) = (Iin::parse(owner).unwrap(), Iin::parse(applicant).unwrap());
    let c = kinship::resolve::Claim::parse(claim, via.as_deref()).unwrap();
    let ask = |x: Iin, y: Iin| kinship::resolve::check(&g, g.person(x), g.person(y), c, on);
    let v = ask(o, a);
    let mut fails = Vec::new();
    if let Err(e) = records.verify(&g, &v.detail, o, a, on) {
        fails.push(format!(
            "{what:?}: detail {:?} is not true of the records: {e}",
            v.detail.render(&g, on)
        ));
    }
    if matches!(
        claim.as_str(),
        "spouse" | "sibling" | "half_sibling" | "in_law"
    ) {
        use kinship::resolve::Reason;
        let w = ask(a, o);
        let swapped_reason = v.reason.map(|r| match r {
            Reason::OwnerUnknown => Reason::ApplicantUnknown,
            Reason::ApplicantUnknown => Reason::OwnerUnknown,
            r => r,
        });
        let unknown = matches!(
            v.reason,
            Some(Reason::OwnerUnknown | Reason::ApplicantUnknown)
        );
        let same = v.confirmed == w.confirmed
            && swapped_reason == w.reason
            && v.evidence == w.evidence
            && v.in_law.map(|k| mirror(k.name())) == w.in_law.map(|k| k.name().to_owned())
            && (unknown
                || v.in_law.is_some()
                || v.detail.render(&g, on) == w.detail.render(&g, on));
        if !same {
            fails.push(format!(
                "{what:?}: swapped, the answer differs: {:?} / {:?}",
                (v.confirmed, v.reason, v.in_law, v.detail.render(&g, on)),
                (w.confirmed, w.reason, w.in_law, w.detail.render(&g, on))
            ));
        }
    }
    fails
}

/// `code` or `code (ACT_ID)`: the refusal's code, and an act its detail names.
fn refusal_matches(expected: &str, code: &str, detail: &str) -> bool {
    match expected.split_once(" (") {
        Some((c, named)) => c == code && detail.contains(named.trim_end_matches(')')),
        None => expected == code,
    }
}

/// Imports one family into a fresh ledger at `url` in batches of `batch`
/// lines and checks every statement; returns the failures as sentences.
pub async fn check_family(
    url: &str,
    name: &str,
    ndjson: &Path,
    expect: &Path,
    batch: usize,
) -> Vec<String> {
    let reg = Registry::open(Ledger::open(url).await.unwrap())
        .await
        .unwrap();
    let lines = lines(ndjson);
    let mut outcomes = Vec::new();
    for chunk in lines.chunks(batch) {
        outcomes.extend(reg.ingest(chunk, name).await.unwrap());
    }
    let mut fails = Vec::new();
    let stmts = parse_expect(expect);
    let records = super::truth::Records::load(reg.ledger()).await;
    let mut expected_refusals: Vec<(String, String)> = Vec::new();
    for s in &stmts {
        let got = match &s.what {
            What::Summary => {
                let (mut a, mut d, mut r) = (0, 0, 0);
                for o in &outcomes {
                    match o {
                        LineOutcome::Accepted { .. } => a += 1,
                        LineOutcome::Duplicate { .. } => d += 1,
                        LineOutcome::Refused { .. } => r += 1,
                    }
                }
                format!("accepted {a}, duplicates {d}, refused {r}")
            }
            What::Refused { act_id } => {
                let code = s.expected.split(" (").next().unwrap().to_owned();
                expected_refusals.push((act_id.clone(), code));
                let got: Vec<(String, String)> = outcomes
                    .iter()
                    .filter_map(|o| match o {
                        LineOutcome::Refused {
                            act_id: Some(a),
                            code,
                            detail,
                        } if a == act_id => Some((code.to_string(), detail.clone())),
                        _ => None,
                    })
                    .collect();
                match got.as_slice() {
                    [(c, d)] if refusal_matches(&s.expected, c, d) => s.expected.clone(),
                    _ => format!("{got:?}"),
                }
            }
            w => {
                fails.extend(check_properties(&reg, &records, w).await);
                answer(&reg, w).await
            }
        };
        if got != s.expected {
            fails.push(format!(
                "{name}.expect:{}: {:?}\n    expected: {}\n    got:      {}",
                s.line, s.what, s.expected, got
            ));
        }
    }
    // Every refusal must be expected: nothing refused by mistake.
    for o in &outcomes {
        if let LineOutcome::Refused {
            act_id,
            code,
            detail,
        } = o
        {
            let listed = expected_refusals
                .iter()
                .any(|(a, c)| Some(a) == act_id.as_ref() && c == code.as_str());
            if !listed {
                fails.push(format!(
                    "{name}: unexpected refusal of {act_id:?}: {code}: {detail}"
                ));
            }
        }
    }
    // The graph rebuilt from the ledger equals the one built incrementally.
    let rebuilt = Registry::open(reg.ledger().clone()).await.unwrap();
    if rebuilt.graph().canonical() != reg.graph().canonical() {
        fails.push(format!(
            "{name}: graph replayed from the ledger differs from the incremental one"
        ));
    }
    reg.ledger().close().await;
    fails
}

/// The same checks as [`check_family`], but every record goes in through
/// `POST /v1/acts` and every answer comes out of the HTTP API.
pub async fn check_family_http(url: &str, name: &str, ndjson: &Path, expect: &Path) -> Vec<String> {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    let reg = std::sync::Arc::new(
        Registry::open(Ledger::open(url).await.unwrap())
            .await
            .unwrap(),
    );
    let app = super::app(reg.clone()).await;
    let call = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let body = std::fs::read(ndjson).unwrap();
    let (status, posted) = call(
        Request::post("/v1/acts")
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{name}: POST /v1/acts: {posted}");
    // POST /v1/checks/kinship, answered 200.
    let check = |owner: &String,
                 applicant: &String,
                 claim: &String,
                 via: &Option<String>,
                 date: &String| {
        let mut req = serde_json::json!({"owner": owner, "applicant": applicant, "claim": claim, "as_of": date});
        if let Some(v) = via {
            req["via"] = Value::String(v.clone());
        }
        let answer = call(
            Request::post("/v1/checks/kinship")
                .header("content-type", "application/json")
                .body(Body::from(req.to_string()))
                .unwrap(),
        );
        async move {
            let (st, v) = answer.await;
            assert_eq!(st, 200, "{req}: {v}");
            v
        }
    };
    let mut fails = Vec::new();
    let rejected = posted["rejected"].as_array().unwrap();
    for s in parse_expect(expect) {
        let got = match &s.what {
            What::Summary => format!(
                "accepted {}, duplicates {}, refused {}",
                posted["accepted"],
                posted["duplicates"],
                rejected.len()
            ),
            What::Refused { act_id } => {
                let got: Vec<(&str, &str)> = rejected
                    .iter()
                    .filter(|r| r["act_id"] == act_id.as_str())
                    .map(|r| (r["code"].as_str().unwrap(), r["detail"].as_str().unwrap()))
                    .collect();
                match got.as_slice() {
                    [(c, d)] if refusal_matches(&s.expected, c, d) => s.expected.clone(),
                    _ => format!("{got:?}"),
                }
            }
            What::Died { iin, date } => {
                let (st, v) = call(
                    Request::get(format!("/v1/persons/{iin}/family?as_of={date}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                match v["person"]["death_date"].as_str() {
                    Some(d) if st == 200 => d.to_owned(),
                    _ => "none".into(),
                }
            }
            What::Relation { a, b, date, degree } => {
                let degree = degree.map_or(String::new(), |d| format!("&max_degree={d}"));
                let (st, v) = call(
                    Request::get(format!("/v1/relations?a={a}&b={b}&as_of={date}{degree}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                assert_eq!(st, 200, "{v}");
                let items: Vec<String> = v["relations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let n = &r["names"];
                        relation_item(
                            r["shape"].as_str().unwrap(),
                            n["ru"].as_str().unwrap(),
                            n["kk"].as_str().unwrap(),
                            n["en"].as_str().unwrap(),
                        )
                    })
                    .collect();
                if items.is_empty() {
                    "none".into()
                } else {
                    normalise(&items.join(", "), true)
                }
            }
            What::Also {
                owner,
                applicant,
                claim,
                via,
                date,
            } => {
                let v = check(owner, applicant, claim, via, date).await;
                let items: Vec<String> = v["also"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        also_item(
                            a["claim"].as_str().unwrap(),
                            a["via"].as_str(),
                            a["relation"].as_str(),
                        )
                    })
                    .collect();
                if items.is_empty() {
                    "none".into()
                } else {
                    normalise(&items.join(", "), true)
                }
            }
            What::Parents { iin, date } => {
                let (st, v) = call(
                    Request::get(format!("/v1/persons/{iin}/relatives?as_of={date}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                let mut items: Vec<String> = if st == 404 {
                    vec![]
                } else {
                    v["parents"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            format!(
                                "{} {} ({})",
                                p["role"].as_str().unwrap(),
                                p["iin"].as_str().unwrap(),
                                p["evidence"][0].as_str().unwrap()
                            )
                        })
                        .collect()
                };
                items.sort_by_key(|i| !i.starts_with("mother"));
                if items.is_empty() {
                    "none".into()
                } else {
                    normalise(&items.join(", "), false)
                }
            }
            What::Children { iin, date } | What::Spouse { iin, date } => {
                let (st, v) = call(
                    Request::get(format!("/v1/persons/{iin}/family?as_of={date}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                let items: Vec<String> = if st == 404 {
                    vec![]
                } else if matches!(s.what, What::Children { .. }) {
                    v["children"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| {
                            format!(
                                "{} ({})",
                                c["iin"].as_str().unwrap(),
                                c["evidence"][0].as_str().unwrap()
                            )
                        })
                        .collect()
                } else if v["married"] == true {
                    vec![format!(
                        "{} ({})",
                        v["spouse"]["iin"].as_str().unwrap(),
                        v["spouse"]["marriage_act"].as_str().unwrap()
                    )]
                } else {
                    vec![]
                };
                if items.is_empty() {
                    "none".into()
                } else {
                    normalise(&items.join(", "), true)
                }
            }
            What::Household { dwelling, date } => {
                let (_, v) = call(
                    Request::get(format!("/v1/dwellings/{dwelling}/household?as_of={date}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                let items: Vec<String> = v["residents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {}",
                            r["iin"].as_str().unwrap(),
                            r["type"].as_str().unwrap()
                        )
                    })
                    .collect();
                assert_eq!(v["registered"].as_u64(), Some(items.len() as u64));
                if items.is_empty() {
                    "none".into()
                } else {
                    normalise(&items.join(", "), true)
                }
            }
            What::Check {
                owner,
                applicant,
                claim,
                via,
                date,
            } => {
                let v = check(owner, applicant, claim, via, date).await;
                assert_eq!(v["as_of"], date.as_str());
                assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
                if v["confirmed"] == true {
                    let ev: Vec<&str> = v["evidence"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e.as_str().unwrap())
                        .collect();
                    let rel = v["relation"].as_str().unwrap();
                    if claim == "in_law" {
                        normalise_check(&format!("confirmed {rel} ({})", ev.join(", ")))
                    } else {
                        assert_eq!(rel, claim);
                        normalise_check(&format!("confirmed ({})", ev.join(", ")))
                    }
                } else {
                    format!("refused {}", v["reason"].as_str().unwrap())
                }
            }
        };
        if got != s.expected {
            fails.push(format!(
                "{name}.expect:{} (HTTP): {:?}\n    expected: {}\n    got:      {}",
                s.line, s.what, s.expected, got
            ));
        }
    }
    reg.ledger().close().await;
    fails
}

/// The IIN of person `code` of fixture 29 (from the people list of its
/// `.expect` file).
pub fn iin_of(code: &str) -> String {
    let text = std::fs::read_to_string(dir().join("29-relation-names.expect")).unwrap();
    let needle = format!(" {code} (");
    let line = text
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no {code} in fixture 29"));
    line.split_whitespace().nth(1).unwrap().to_owned()
}
