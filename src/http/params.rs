//! Query parameters. Each route takes exactly the parameters its OpenAPI
//! operation documents: any other is a 400 `unknown_parameter` naming it,
//! as unknown JSON fields are, so a misspelt `as_of` never passes silently.
//! The document is the one list, so the check and the docs cannot drift.

use super::Problem;
use axum::extract::{FromRequestParts, MatchedPath, Query, Request};
use axum::http::Method;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::ParameterIn;

/// Per route (method, path template): the query parameters it takes.
#[derive(Debug, Default)]
pub struct KnownParams(HashMap<(Method, String), Vec<String>>);

/// Every operation of the document: (method, path template, operation).
pub fn operations(
    doc: &utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (Method, &String, &utoipa::openapi::path::Operation)> {
    doc.paths.paths.iter().flat_map(|(path, item)| {
        [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
        ]
        .into_iter()
        .filter_map(move |(m, op)| op.as_ref().map(|op| (m, path, op)))
    })
}

impl KnownParams {
    pub fn from_doc(doc: &utoipa::openapi::OpenApi) -> KnownParams {
        let mut map = HashMap::new();
        for (method, path, op) in operations(doc) {
            let names = op
                .parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query) => {
                        Some(p.name.clone())
                    }
                    _ => None,
                })
                .collect();
            map.insert((method, path.clone()), names);
        }
        KnownParams(map)
    }
}

/// A whole-number query parameter within `range`, or `default` when
/// absent; out of range or not a number is 400 `invalid_parameter`.
pub fn int_param(
    name: &str,
    value: Option<&str>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, Problem> {
    let Some(s) = value else {
        return Ok(default);
    };
    s.parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            let within = match *range.end() {
                i64::MAX => format!("at least {}", range.start()),
                end => format!("from {} to {end}", range.start()),
            };
            Problem::bad_request(
                "invalid_parameter",
                format!("parameter {name}: must be a whole number {within}"),
            )
        })
}

/// A parameter the matched route does not take, as the problem to answer
/// (routes and their parameters read from the OpenAPI document).
pub fn refuse_unknown(known: &KnownParams, req: &Request) -> Option<Problem> {
    let query = req.uri().query()?;
    let route = req.extensions().get::<MatchedPath>()?;
    let allowed = known
        .0
        .get(&(req.method().clone(), route.as_str().to_owned()))?;
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !allowed.iter().any(|a| *a == name) {
            let shown: String = name.chars().take(40).collect();
            let takes = if allowed.is_empty() {
                "this route takes none".to_owned()
            } else {
                format!("this route takes {}", allowed.join(", "))
            };
            return Some(Problem::bad_request(
                "unknown_parameter",
                format!("parameter {shown}: not known ({takes})"),
            ));
        }
    }
    None
}

/// `Query`, with a malformed query string answered as a problem.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(t)| Params(t))
            .map_err(|e| {
                Problem::bad_request(
                    "invalid_parameter",
                    format!("the query string: {}", e.body_text()),
                )
            })
    }
}
