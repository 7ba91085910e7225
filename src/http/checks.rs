//! `POST /v1/checks/kinship` and its NDJSON batch form.

use super::ndjson::{self, NdjsonAnswer};
use super::{AppState, Problem, Ready, SEQ_HEADER, as_of_or_today};
use crate::graph::{FamilyGraph, PersonId};
use crate::iin::Iin;
use crate::resolve::{self, Claim, ClaimError};
use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/checks/kinship", post(check_one))
        .route("/v1/checks/kinship:batch", post(check_batch))
}

/// A validated check request.
#[derive(Clone, Copy, Debug)]
pub struct CheckRequest {
    pub owner: Iin,
    pub applicant: Iin,
    pub claim: Claim,
    pub as_of: NaiveDate,
}

#[derive(Debug, Serialize)]
pub struct Also {
    pub claim: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct CheckAnswer {
    pub confirmed: bool,
    pub claim: &'static str,
    pub via: Option<&'static str>,
    pub as_of: NaiveDate,
    pub relation: Option<&'static str>,
    pub evidence: Vec<String>,
    pub reason: Option<&'static str>,
    pub detail: String,
    pub also: Vec<Also>,
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

pub fn parse_check(body: &[u8]) -> Result<CheckRequest, Problem> {
    let map = object(body, &["owner", "applicant", "claim", "via", "as_of"])?;
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

fn claim_parts(c: Claim) -> (&'static str, Option<&'static str>) {
    (c.name(), c.via().map(|s| s.as_str()))
}

/// Answers a validated request from the graph.
pub fn answer(g: &FamilyGraph, r: &CheckRequest) -> CheckAnswer {
    let owner = g.person(r.owner);
    let applicant = g.person(r.applicant);
    let v = resolve::check(g, owner, applicant, r.claim, r.as_of);
    let also = match (owner, applicant) {
        (Some(o), Some(a)) if o != a => also_list(g, o, a, r.claim, r.as_of),
        _ => Vec::new(),
    };
    let (claim, via) = claim_parts(r.claim);
    CheckAnswer {
        confirmed: v.confirmed,
        claim,
        via,
        as_of: r.as_of,
        relation: v.confirmed.then(|| v.in_law.map_or(claim, |k| k.name())),
        evidence: v.evidence.iter().map(|a| g.act_id(*a).to_owned()).collect(),
        reason: v.reason.map(|r| r.code()),
        detail: v.detail.render(g, r.as_of),
        also,
    }
}

pub fn also_list(
    g: &FamilyGraph,
    o: PersonId,
    a: PersonId,
    except: Claim,
    on: NaiveDate,
) -> Vec<Also> {
    resolve::also(g, o, a, except, on)
        .into_iter()
        .map(|(c, k)| {
            let (claim, via) = claim_parts(c);
            Also {
                claim,
                via,
                relation: k.map(|k| k.name()),
            }
        })
        .collect()
}

async fn check_one(Ready(reg): Ready, body: Bytes) -> Result<Response, Problem> {
    let req = parse_check(&body)?;
    let g = reg.graph().await;
    let answer = answer(&g, &req);
    let seq = reg.applied_seq();
    drop(g);
    Ok(([(SEQ_HEADER, seq.to_string())], Json(answer)).into_response())
}

async fn check_batch(Ready(reg): Ready, body: Body) -> Response {
    fn one(g: &FamilyGraph, line: &[u8]) -> NdjsonAnswer {
        match parse_check(line) {
            Ok(req) => NdjsonAnswer::ok(&answer(g, &req)),
            Err(p) => NdjsonAnswer::error(p),
        }
    }
    ndjson::stream(reg, body, |reg, lines| async move {
        ndjson::per_line(reg, lines, &one).await
    })
}
