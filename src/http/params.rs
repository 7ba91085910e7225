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

impl KnownParams {
    pub fn from_doc(doc: &utoipa::openapi::OpenApi) -> KnownParams {
        let mut map = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
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
        }
        KnownParams(map)
    }
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
