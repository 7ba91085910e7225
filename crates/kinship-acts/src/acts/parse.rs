//! Line → [`Act`]: every check that needs nothing but the record itself.

use super::{Act, ActBody, ActId, Code, DeathBasis, Kind, Name, Refusal, ResidenceType};
use crate::iin::Iin;
use chrono::NaiveDate;
use serde_json::{Map, Value};

/// Longest line accepted. Real records are a few hundred bytes; the bound
/// keeps a runaway line from costing memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Longest dwelling id, in characters (cadastral numbers and address ids
/// are far shorter).
const MAX_DWELLING_CHARS: usize = 128;

/// A record refused before it could become an [`Act`], with the act_id
/// when the record had a readable one (so staff can find it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub act_id: Option<String>,
    pub refusal: Refusal,
}

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Act, ParseError> {
    let bare = |code, detail: String| ParseError {
        act_id: None,
        refusal: Refusal::new(code, detail),
    };
    if line.len() > MAX_LINE_BYTES {
        return Err(bare(
            Code::LineTooLong,
            format!(
                "the line is {} bytes; a record may be at most {MAX_LINE_BYTES}",
                line.len()
            ),
        ));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        bare(
            Code::InvalidUtf8,
            format!("byte {} is not valid UTF-8", e.valid_up_to() + 1),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        bare(
            Code::MalformedJson,
            format!("not a complete JSON value: {e}"),
        )
    })?;
    parse_value(value)
}

/// Parses an already decoded JSON value.
pub fn parse_value(value: Value) -> Result<Act, ParseError> {
    let Value::Object(map) = value else {
        return Err(ParseError {
            act_id: None,
            refusal: Refusal::new(Code::NotAnObject, "a record must be a JSON object"),
        });
    };
    // Keep the act_id only if it is one, so a refused record's id is sane.
    let act_id = map
        .get("act_id")
        .and_then(Value::as_str)
        .filter(|s| ActId::parse(s).is_some())
        .map(str::to_owned);
    let fields = Fields { map };
    fields
        .act()
        .map_err(|refusal| ParseError { act_id, refusal })
}

struct Fields {
    map: Map<String, Value>,
}

fn field_err(code: Code, field: &str, what: impl std::fmt::Display) -> Refusal {
    Refusal::new(code, format!("field {field}: {what}"))
}

impl Fields {
    fn act(&self) -> Result<Act, Refusal> {
        let kind = match self.map.get("kind") {
            None | Some(Value::Null) => {
                return Err(Refusal::new(Code::UnknownKind, "field kind: is required"));
            }
            Some(Value::String(s)) => Kind::parse(s).ok_or_else(|| {
                field_err(
                    Code::UnknownKind,
                    "kind",
                    "must be one of birth, paternity, adoption, marriage, divorce, death, \
                     name_change, annulment, residence",
                )
            })?,
            Some(_) => return Err(field_err(Code::UnknownKind, "kind", "must be a string")),
        };
        let allowed = allowed_fields(kind);
        if let Some(extra) = self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Refusal::new(
                Code::UnknownField,
                format!(
                    "field {}: a {} record has no such field (allowed: {})",
                    shorten(extra),
                    kind.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
        let act_id = self.act_id("act_id")?;
        let body = match kind {
            Kind::Birth => ActBody::Birth {
                date: self.date("date")?,
                child: self.iin("child")?,
                mother: self.opt_iin("mother")?,
                father: self.opt_iin("father")?,
                name: self.opt_name("name")?,
            },
            Kind::Paternity => ActBody::Paternity {
                date: self.date("date")?,
                child: self.iin("child")?,
                father: self.iin("father")?,
            },
            Kind::Adoption => {
                let date = self.date("date")?;
                let child = self.iin("child")?;
                let adoptive_mother = self.opt_iin("adoptive_mother")?;
                let adoptive_father = self.opt_iin("adoptive_father")?;
                if adoptive_mother.is_none() && adoptive_father.is_none() {
                    return Err(Refusal::new(
                        Code::NoAdoptiveParent,
                        "fields adoptive_mother, adoptive_father: an adoption must name at least one adoptive parent",
                    ));
                }
                ActBody::Adoption {
                    date,
                    child,
                    adoptive_mother,
                    adoptive_father,
                }
            }
            Kind::Marriage => ActBody::Marriage {
                date: self.date("date")?,
                spouses: self.spouses()?,
            },
            Kind::Divorce => ActBody::Divorce {
                date: self.date("date")?,
                marriage_act: self.act_id("marriage_act")?,
            },
            Kind::Death => {
                let date = self.date("date")?;
                let person = self.iin("person")?;
                let died = self.opt_date("died")?.unwrap_or(date);
                let basis = match self.opt_str("basis")? {
                    None | Some("registered") => DeathBasis::Registered,
                    Some("court_declaration") => DeathBasis::CourtDeclaration,
                    Some(_) => {
                        return Err(field_err(
                            Code::InvalidField,
                            "basis",
                            "must be \"registered\" or \"court_declaration\"",
                        ));
                    }
                };
                ActBody::Death {
                    date,
                    person,
                    died,
                    basis,
                }
            }
            Kind::NameChange => ActBody::NameChange {
                date: self.date("date")?,
                person: self.iin("person")?,
                name: self.name("name")?,
            },
            Kind::Annulment => ActBody::Annulment {
                date: self.date("date")?,
                target_act: self.act_id("target_act")?,
            },
            Kind::Residence => {
                let person = self.iin("person")?;
                let dwelling = self.dwelling()?;
                let from = self.date("from")?;
                let to = self.opt_date("to")?;
                let kind = match self.opt_str("type")? {
                    None | Some("permanent") => ResidenceType::Permanent,
                    Some("temporary") => ResidenceType::Temporary,
                    Some(_) => {
                        return Err(field_err(
                            Code::InvalidField,
                            "type",
                            "must be \"permanent\" or \"temporary\"",
                        ));
                    }
                };
                ActBody::Residence {
                    person,
                    dwelling,
                    from,
                    to,
                    kind,
                }
            }
        };
        Ok(Act { act_id, body })
    }

    /// The field's value, treating `null` as absent.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn required(&self, field: &str) -> Result<&Value, Refusal> {
        self.get(field)
            .ok_or_else(|| field_err(Code::MissingField, field, "is required"))
    }

    fn opt_str(&self, field: &str) -> Result<Option<&str>, Refusal> {
        self.get(field)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| field_err(Code::InvalidField, field, "must be a string"))
            })
            .transpose()
    }

    fn str(&self, field: &str) -> Result<&str, Refusal> {
        self.required(field)?;
        Ok(self.opt_str(field)?.expect("required"))
    }

    fn iin(&self, field: &str) -> Result<Iin, Refusal> {
        parse_iin(self.required(field)?, field)
    }

    fn opt_iin(&self, field: &str) -> Result<Option<Iin>, Refusal> {
        self.get(field).map(|v| parse_iin(v, field)).transpose()
    }

    fn date(&self, field: &str) -> Result<NaiveDate, Refusal> {
        parse_date_field(self.str(field)?, field)
    }

    fn opt_date(&self, field: &str) -> Result<Option<NaiveDate>, Refusal> {
        self.opt_str(field)?
            .map(|s| parse_date_field(s, field))
            .transpose()
    }

    fn act_id(&self, field: &str) -> Result<ActId, Refusal> {
        let s = self.str(field)?;
        ActId::parse(s).ok_or_else(|| {
            field_err(
                Code::InvalidActId,
                field,
                "must be 1-64 characters of A-Z a-z 0-9 - _ / .",
            )
        })
    }

    fn spouses(&self) -> Result<[Iin; 2], Refusal> {
        let v = self.required("spouses")?;
        match v.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok([parse_iin(a, "spouses[0]")?, parse_iin(b, "spouses[1]")?]),
            _ => Err(field_err(
                Code::InvalidField,
                "spouses",
                "must be an array of exactly two IINs",
            )),
        }
    }

    fn dwelling(&self) -> Result<String, Refusal> {
        let s = self.str("dwelling")?;
        let n = s.chars().count();
        if s.trim().is_empty() || n > MAX_DWELLING_CHARS || s.chars().any(char::is_control) {
            return Err(field_err(
                Code::InvalidDwelling,
                "dwelling",
                format!("must be 1-{MAX_DWELLING_CHARS} printable characters"),
            ));
        }
        Ok(s.to_owned())
    }

    fn name(&self, field: &str) -> Result<Name, Refusal> {
        parse_name(self.required(field)?, field)
    }

    fn opt_name(&self, field: &str) -> Result<Option<Name>, Refusal> {
        self.get(field).map(|v| parse_name(v, field)).transpose()
    }
}

fn allowed_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Birth => &[
            "kind", "act_id", "date", "child", "mother", "father", "name",
        ],
        Kind::Paternity => &["kind", "act_id", "date", "child", "father"],
        Kind::Adoption => &[
            "kind",
            "act_id",
            "date",
            "child",
            "adoptive_mother",
            "adoptive_father",
        ],
        Kind::Marriage => &["kind", "act_id", "date", "spouses"],
        Kind::Divorce => &["kind", "act_id", "date", "marriage_act"],
        Kind::Death => &["kind", "act_id", "date", "person", "died", "basis"],
        Kind::NameChange => &["kind", "act_id", "date", "person", "name"],
        Kind::Annulment => &["kind", "act_id", "date", "target_act"],
        Kind::Residence => &["kind", "act_id", "person", "dwelling", "from", "to", "type"],
    }
}

/// A field name echoed back, cut so a huge key cannot bloat the detail.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}

fn parse_iin(v: &Value, field: &str) -> Result<Iin, Refusal> {
    let s = v
        .as_str()
        .ok_or_else(|| field_err(Code::InvalidIin, field, "must be a string of 12 digits"))?;
    Iin::parse(s).map_err(|e| field_err(Code::InvalidIin, field, e))
}

/// Strict `YYYY-MM-DD` (chrono alone would accept signs and longer years).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

fn parse_date_field(s: &str, field: &str) -> Result<NaiveDate, Refusal> {
    parse_date(s).ok_or_else(|| {
        field_err(
            Code::InvalidDate,
            field,
            "must be a real date written YYYY-MM-DD",
        )
    })
}

fn parse_name(v: &Value, field: &str) -> Result<Name, Refusal> {
    let Some(map) = v.as_object() else {
        return Err(field_err(
            Code::InvalidName,
            field,
            "must be an object with surname, given, patronymic",
        ));
    };
    if let Some(extra) = map
        .keys()
        .find(|k| !["surname", "given", "patronymic"].contains(&k.as_str()))
    {
        return Err(field_err(
            Code::InvalidName,
            field,
            format!(
                "has no part {} (parts are surname, given, patronymic)",
                shorten(extra)
            ),
        ));
    }
    let part = |p: &str, required: bool| -> Result<Option<String>, Refusal> {
        let full = format!("{field}.{p}");
        match map.get(p).filter(|v| !v.is_null()) {
            None if required => Err(field_err(Code::InvalidName, &full, "is required")),
            None => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if s.trim().is_empty() {
                    Err(field_err(Code::InvalidName, &full, "must not be empty"))
                } else if n > Name::MAX_PART_CHARS {
                    Err(field_err(
                        Code::InvalidName,
                        &full,
                        format!(
                            "is {n} characters long; at most {} are accepted",
                            Name::MAX_PART_CHARS
                        ),
                    ))
                } else if s.chars().any(char::is_control) {
                    Err(field_err(
                        Code::InvalidName,
                        &full,
                        "must not contain control characters",
                    ))
                } else {
                    Ok(Some(s.clone()))
                }
            }
            Some(_) => Err(field_err(Code::InvalidName, &full, "must be a string")),
        }
    };
    Ok(Name {
        surname: part("surname", true)?.expect("required"),
        given: part("given", true)?.expect("required"),
        patronymic: part("patronymic", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(line: &str) -> (Code, String) {
        let e = parse_line(line.as_bytes()).expect_err(line);
        (e.refusal.code, e.refusal.detail)
    }

    #[test]
    fn spec_examples_parse_and_canonicalise() {
        let lines = [
            r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
            r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125","name":{"surname":"Ахметов","given":"Ерлан","patronymic":"Маратович"}}"#,
            r#"{"kind":"divorce","act_id":"R-2006-0003","date":"2006-11-02","marriage_act":"M-1998-0001"}"#,
            r#"{"kind":"residence","act_id":"REG-77","person":"010305500121","dwelling":"21:320:045:112:17","from":"2020-01-10"}"#,
        ];
        for l in lines {
            let act = parse_line(l.as_bytes()).unwrap();
            let again = parse_line(act.canonical_json().as_bytes()).unwrap();
            assert_eq!(act, again);
        }
        let death = parse_line(
            br#"{"kind":"death","act_id":"D-2019-0004","date":"2019-01-15","person":"720415300125"}"#,
        )
        .unwrap();
        assert_eq!(
            death.canonical_json(),
            r#"{"act_id":"D-2019-0004","kind":"death","date":"2019-01-15","person":"720415300125","died":"2019-01-15","basis":"registered"}"#
        );
    }

    #[test]
    fn meaning_not_bytes_decides_equality() {
        let a = parse_line(
            br#"{"kind":"death","act_id":"D-1","date":"2019-01-15","person":"720415300125"}"#,
        )
        .unwrap();
        let b = parse_line(
            br#"{ "person":"720415300125", "basis":"registered", "died":"2019-01-15", "act_id":"D-1", "date":"2019-01-15", "kind":"death" }"#,
        )
        .unwrap();
        assert_eq!(a.canonical_json(), b.canonical_json());
        let c = parse_line(
            br#"{"kind":"birth","act_id":"B-1","date":"2001-03-09","child":"010305500121","father":null}"#,
        )
        .unwrap();
        assert!(!c.canonical_json().contains("father"));
    }

    #[test]
    fn each_shape_error_has_its_code() {
        let cases: &[(&str, Code, &str)] = &[
            ("{", Code::MalformedJson, ""),
            ("[1,2]", Code::NotAnObject, ""),
            (r#"{"act_id":"X"}"#, Code::UnknownKind, "field kind"),
            (
                r#"{"kind":"wedding","act_id":"X"}"#,
                Code::UnknownKind,
                "field kind",
            ),
            (
                r#"{"kind":"divorce","act_id":"X","date":"2001-01-01","marriage_act":"M","mothr":1}"#,
                Code::UnknownField,
                "field mothr",
            ),
            (
                r#"{"kind":"divorce","act_id":"X","date":"2001-01-01"}"#,
                Code::MissingField,
                "field marriage_act",
            ),
            (
                r#"{"kind":"divorce","act_id":"X","date":null,"marriage_act":"M"}"#,
                Code::MissingField,
                "field date",
            ),
            (
                r#"{"kind":"divorce","act_id":"X","date":20010101,"marriage_act":"M"}"#,
                Code::InvalidField,
                "field date",
            ),
            (
                r#"{"kind":"divorce","act_id":"X","date":"2001-02-30","marriage_act":"M"}"#,
                Code::InvalidDate,
                "field date",
            ),
            (
                r#"{"kind":"divorce","act_id":"X","date":"+2001-02-03","marriage_act":"M"}"#,
                Code::InvalidDate,
                "field date",
            ),
            (
                r#"{"kind":"divorce","act_id":"X Y","date":"2001-01-01","marriage_act":"M"}"#,
                Code::InvalidActId,
                "field act_id",
            ),
            (
                r#"{"kind":"divorce","date":"2001-01-01","marriage_act":"M"}"#,
                Code::MissingField,
                "field act_id",
            ),
            (
                r#"{"kind":"paternity","act_id":"X","date":"2001-01-01","child":"010305500124","father":"720415300125"}"#,
                Code::InvalidIin,
                "field child: check digit is 4, expected 1",
            ),
            (
                r#"{"kind":"paternity","act_id":"X","date":"2001-01-01","child":10305500121,"father":"720415300125"}"#,
                Code::InvalidIin,
                "field child",
            ),
            (
                r#"{"kind":"marriage","act_id":"X","date":"2001-01-01","spouses":["720415300125"]}"#,
                Code::InvalidField,
                "field spouses",
            ),
            (
                r#"{"kind":"marriage","act_id":"X","date":"2001-01-01","spouses":["720415300125","750101400218"]}"#,
                Code::InvalidIin,
                "field spouses[1]",
            ),
            (
                r#"{"kind":"adoption","act_id":"X","date":"2001-01-01","child":"010305500121"}"#,
                Code::NoAdoptiveParent,
                "adoptive_mother",
            ),
            (
                r#"{"kind":"death","act_id":"X","date":"2001-01-01","person":"720415300125","basis":"rumour"}"#,
                Code::InvalidField,
                "field basis",
            ),
            (
                r#"{"kind":"residence","act_id":"X","person":"720415300125","dwelling":"","from":"2001-01-01"}"#,
                Code::InvalidDwelling,
                "field dwelling",
            ),
            (
                r#"{"kind":"residence","act_id":"X","person":"720415300125","dwelling":"D","from":"2001-01-01","type":"forever"}"#,
                Code::InvalidField,
                "field type",
            ),
            (
                r#"{"kind":"name_change","act_id":"X","date":"2001-01-01","person":"720415300125","name":{"surname":"A"}}"#,
                Code::InvalidName,
                "field name.given",
            ),
            (
                r#"{"kind":"name_change","act_id":"X","date":"2001-01-01","person":"720415300125","name":{"surname":"A","given":"B","nick":"C"}}"#,
                Code::InvalidName,
                "field name",
            ),
            (
                r#"{"kind":"name_change","act_id":"X","date":"2001-01-01","person":"720415300125","name":"A B"}"#,
                Code::InvalidName,
                "field name",
            ),
        ];
        for (line, code, detail) in cases {
            let (c, d) = refused(line);
            assert_eq!(c, *code, "{line}: {d}");
            assert!(d.contains(detail), "{line}: detail {d:?} lacks {detail:?}");
        }
    }

    #[test]
    fn absurd_lines_are_refused_not_crashed() {
        let long_name = "Я".repeat(101);
        let (c, d) = refused(&format!(
            r#"{{"kind":"name_change","act_id":"X","date":"2001-01-01","person":"720415300125","name":{{"surname":"{long_name}","given":"B"}}}}"#
        ));
        assert_eq!(c, Code::InvalidName);
        assert!(d.contains("101 characters"), "{d}");

        let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
        assert_eq!(refused(&deep).0, Code::MalformedJson);

        let huge = format!(r#"{{"kind":"birth","act_id":"{}"}}"#, "x".repeat(3 << 20));
        assert_eq!(refused(&huge).0, Code::LineTooLong);

        let e = parse_line(b"{\"kind\":\"birth\xff\"}").unwrap_err();
        assert_eq!(e.refusal.code, Code::InvalidUtf8);

        let truncated = r#"{"kind":"divorce","act_id":"R-1","date":"2006-11-02","marriage_a"#;
        assert_eq!(refused(truncated).0, Code::MalformedJson);
    }

    #[test]
    fn refused_records_keep_their_act_id() {
        let e = parse_line(
            br#"{"kind":"divorce","act_id":"R-9","date":"2006-13-02","marriage_act":"M"}"#,
        )
        .unwrap_err();
        assert_eq!(e.act_id.as_deref(), Some("R-9"));
    }
}
