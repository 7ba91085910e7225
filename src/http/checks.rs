//! `POST /v1/checks/kinship` and its NDJSON batch form.

use super::ndjson::{self, NdjsonAnswer};
use super::openapi::{ClaimName, IinSchema, ViaSide};
use super::{AppState, Problem, as_of_or_today};
use crate::acts::MAX_LINE_BYTES;
use crate::graph::FamilyGraph;
use crate::iin::Iin;
use crate::query::checks::{CheckAnswer, CheckRequest, answer};
use crate::query::{Answer, Reader};
use crate::resolve::{Claim, ClaimError};
use axum::body::Body;
use axum::response::Response;
use chrono::NaiveDate;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_one))
        .routes(routes!(check_batch))
}

/// The fields of a check request.
const CHECK_FIELDS: &[&str] = &["owner", "applicant", "claim", "via", "as_of"];

/// A kinship check as sent: is `applicant` the `claim` of `owner` on
/// `as_of`? (The schema of what `parse_check` reads; its fields are
/// `CHECK_FIELDS`, which a test compares.)
#[derive(ToSchema)]
#[schema(as = CheckRequest)]
#[allow(dead_code)]
struct CheckBody {
    /// The dwelling's owner.
    #[schema(value_type = IinSchema)]
    owner: String,
    /// The person whose relation to the owner is claimed.
    #[schema(value_type = IinSchema, example = "010305500121")]
    applicant: String,
    #[schema(value_type = ClaimName)]
    claim: String,
    /// Required for half_sibling, grandparent and grandchild; absent (or
    /// null) for the others.
    #[schema(value_type = Option<ViaSide>)]
    via: Option<String>,
    /// The date the relation is evaluated on; today in Kazakhstan when
    /// absent.
    #[schema(value_type = Option<NaiveDate>)]
    as_of: Option<String>,
}

/// Reads one JSON object with exactly the given fields; the problem names
/// the field at fault.
pub fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Problem> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    let Value::Object(map) = v else {
        return Err(Problem::bad_request(
            "malformed_json",
            "the body must be a JSON object",
        ));
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        let k: String = k.chars().take(40).collect();
        return Err(Problem::bad_request(
            "unknown_field",
            format!(
                "field {k}: not part of this request (fields: {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(map)
}

fn opt_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Problem> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Problem::bad_request(
            "invalid_field",
            format!("field {field}: must be a string"),
        )),
    }
}

pub fn iin_field(map: &Map<String, Value>, field: &str) -> Result<Iin, Problem> {
    let s = opt_str(map, field)?.ok_or_else(|| {
        Problem::bad_request("missing_field", format!("field {field}: is required"))
    })?;
    Iin::parse(s).map_err(|e| Problem::bad_request("invalid_iin", format!("field {field}: {e}")))
}

pub fn as_of_field(map: &Map<String, Value>) -> Result<NaiveDate, Problem> {
    as_of_or_today(opt_str(map, "as_of")?)
}

/// A well-formed request read straight into borrowed strings: building a
/// `serde_json::Value` map first was ~8% of a check batch (perf).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainCheck<'a> {
    owner: &'a str,
    applicant: &'a str,
    claim: &'a str,
    #[serde(default)]
    via: Option<&'a str>,
    #[serde(default)]
    as_of: Option<&'a str>,
}

/// The request when it is entirely valid, else `None` (then the full path
/// below finds and names what is wrong, as it always has).
fn parse_plain(body: &[u8]) -> Option<CheckRequest> {
    let p: PlainCheck = serde_json::from_slice(body).ok()?;
    Some(CheckRequest {
        owner: Iin::parse(p.owner).ok()?,
        applicant: Iin::parse(p.applicant).ok()?,
        claim: Claim::parse(p.claim, p.via).ok()?,
        as_of: as_of_or_today(p.as_of).ok()?,
    })
}

pub fn parse_check(body: &[u8]) -> Result<CheckRequest, Problem> {
    match parse_plain(body) {
        Some(r) => Ok(r),
        None => parse_full(body),
    }
}

/// Every field checked in turn, the first fault named.
fn parse_full(body: &[u8]) -> Result<CheckRequest, Problem> {
    let map = object(body, CHECK_FIELDS)?;
    let owner = iin_field(&map, "owner")?;
    let applicant = iin_field(&map, "applicant")?;
    let name = opt_str(&map, "claim")?
        .ok_or_else(|| Problem::bad_request("missing_field", "field claim: is required"))?;
    let claim = Claim::parse(name, opt_str(&map, "via")?).map_err(|e| {
        let code = match e {
            ClaimError::UnknownClaim => "unknown_claim",
            ClaimError::BadVia => "invalid_via",
            ClaimError::ViaRequired => "via_required",
            ClaimError::ViaMeaningless => "via_not_applicable",
        };
        Problem::bad_request(code, e.to_string())
    })?;
    Ok(CheckRequest {
        owner,
        applicant,
        claim,
        as_of: as_of_field(&map)?,
    })
}

/// Kinship check
///
/// Is `applicant` the `claim` of `owner` (the dwelling's owner) on `as_of`?
/// A well-formed question about people the registry does not know is not
/// an error: the answer is `confirmed: false` with reason `owner_unknown`
/// or `applicant_unknown`.
#[utoipa::path(
    post,
    path = "/v1/checks/kinship",
    security(("api_key" = ["checks"])),
    tag = "checks",
    request_body(content = CheckBody, example = json!(
        {"owner": "750101400219", "applicant": "010305500121", "claim": "half_sibling", "via": "mother", "as_of": "2025-06-01"}
    )),
    responses(
        (status = 200, description = "The answer, confirmed or not, with its evidence", body = CheckAnswer),
        (status = 400, description = "The request is malformed: `malformed_json`, `unknown_field`, `missing_field`, \
            `invalid_field`, `invalid_iin`, `unknown_claim`, `invalid_via`, `via_required`, `via_not_applicable`, `invalid_date`; \
            `body_unreadable`",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`body_too_large`: a body over 64 KiB",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn check_one(reader: Reader, body: Body) -> Result<Answer<CheckAnswer>, Problem> {
    // A check is a line of a batch: no bigger.
    let body = super::small_body(
        body,
        MAX_LINE_BYTES,
        "a kinship check is a small JSON object",
    )
    .await?;
    let req = parse_check(&body)?;
    Ok(reader.kinship(&req).await?)
}

/// Kinship checks in bulk (NDJSON)
///
/// One check request per line, answered in order as a stream, a line per
/// request; a bad line gets a `LineError` line instead of failing the batch.
/// The body is read whole before the first answer (so a client that writes
/// everything before reading works), within the batch caps: 64 MiB and
/// 1,000,000 lines by default.
#[utoipa::path(
    post,
    path = "/v1/checks/kinship:batch",
    security(("api_key" = ["checks"])),
    tag = "checks",
    request_body(
        description = "NDJSON: one `CheckRequest` object per line. Blank lines are skipped but counted.",
        content = String,
        content_type = "application/x-ndjson",
        example = json!("{\"owner\":\"750101400219\",\"applicant\":\"010305500121\",\"claim\":\"child\"}\n{\"owner\":\"750101400219\",\"applicant\":\"720415300125\",\"claim\":\"spouse\",\"as_of\":\"2010-01-01\"}\n"),
    ),
    responses(
        (status = 200, description = "NDJSON, one line per request line in the same order: a `CheckAnswer`, \
            or a `LineError` (`{\"line\": n, \"error\": Problem}`) for a line that could not be answered",
            body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "`body_unreadable`: the body could not be read to its end",
            body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "`body_timeout`: the body did not arrive within the batch read timeout",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`batch_too_large`: more bytes or lines than the batch caps; split it",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn check_batch(reader: Reader, batch: ndjson::BatchBody) -> Response {
    fn one(g: &FamilyGraph, line: &[u8], revealed: &mut Vec<Iin>) -> NdjsonAnswer {
        match parse_check(line) {
            Ok(req) => NdjsonAnswer::ok(&answer(g, &req, revealed)),
            Err(p) => NdjsonAnswer::error(p),
        }
    }
    ndjson::stream(reader, batch, |reg, lines| async move {
        ndjson::per_line(reg, lines, &one).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, schema::Schema};

    #[test]
    fn the_documented_request_has_exactly_the_fields_read() {
        let RefOr::T(Schema::Object(o)) = CheckBody::schema() else {
            panic!("CheckRequest is an object schema");
        };
        let documented: Vec<&str> = o.properties.keys().map(String::as_str).collect();
        assert_eq!(documented, CHECK_FIELDS);
    }

    /// The quick path gives what the full one gives, or leaves it to it.
    #[test]
    fn the_plain_path_agrees_with_the_full_one() {
        let (o, a) = ("750101400219", "010305500121");
        let valid = [
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"child"}}"#),
            format!(r#"{{"claim":"spouse","applicant":"{a}","owner":"{o}","as_of":"2010-01-01"}}"#),
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"half_sibling","via":"mother"}}"#),
            format!(
                r#"{{"owner":"{o}","applicant":"{a}","claim":"child","via":null,"as_of":null}}"#
            ),
            format!(
                r#" {{"owner": "{o}", "applicant": "{a}", "claim": "grandchild", "via": "father"}} "#
            ),
            // Escapes: left to the full path, which decodes them.
            format!(
                r#"{{"owner":"\u0037{}","applicant":"{a}","claim":"child"}}"#,
                &o[1..]
            ),
        ];
        for b in &valid {
            let full = parse_full(b.as_bytes()).expect(b);
            assert_eq!(parse_check(b.as_bytes()).unwrap(), full, "{b}");
            if let Some(p) = parse_plain(b.as_bytes()) {
                assert_eq!(p, full, "{b}");
            }
        }
        assert!(parse_plain(valid[0].as_bytes()).is_some());
        assert!(
            parse_plain(valid[5].as_bytes()).is_none(),
            "an escape is the full path's"
        );
        let invalid = [
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"child","x":1}}"#),
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"cousin"}}"#),
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"half_sibling"}}"#),
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"child","as_of":"2010-02-30"}}"#),
            format!(r#"{{"owner":"{o}","applicant":"{a}","claim":"child","owner":"{a}"}}"#),
            format!(r#"{{"owner":"750101400218","applicant":"{a}","claim":"child"}}"#),
            format!(r#"{{"owner":{o},"applicant":"{a}","claim":"child"}}"#),
        ];
        for b in &invalid {
            assert_eq!(parse_plain(b.as_bytes()), None, "{b}");
        }
        // Each still gets the full path's own answer.
        for b in &invalid[..4] {
            assert!(parse_check(b.as_bytes()).is_err(), "{b}");
        }
    }
}
