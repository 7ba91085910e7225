//! Who is asking and why, per request, and the audit of what they were
//! told. Each route's needs are read from its OpenAPI operation (its
//! `security` names the scope), so the document and the enforcement are one
//! list: a `/v1` route without one is refused at start (see `Needs`).
//!
//! Every answer of a route with a purpose (all that reveal personal data)
//! is audited by `query::Reader` before it is handed over, and NDJSON
//! batches record each segment as they stream (`ndjson::stream`); both
//! mark the answer [`Audited`], and the middleware refuses one without.

use super::Problem;
use crate::access::{Caller, CredentialError, Purpose, Scope};
use crate::registry::Registry;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use std::collections::HashMap;
use std::sync::Arc;

/// The purpose header.
pub const PURPOSE_HEADER: &str = "x-purpose";
/// The API-key header (the alternative to `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "x-api-key";
/// The name of the security scheme in the document.
pub const SCHEME: &str = "api_key";

/// What a route asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// The scope it needs; `None`: any client.
    pub scope: Option<Scope>,
    /// Whether the request must state a purpose (and its answer is audited).
    pub purpose: bool,
}

/// Per route (method, path template): what it needs.
#[derive(Debug, Default)]
pub struct Needs(HashMap<(Method, String), Need>);

impl Needs {
    /// Reads each operation's security requirement. Panics when a `/v1`
    /// route has none, or names a scope that does not exist: a route that
    /// forgot it must not start serving personal data to anyone.
    pub fn from_doc(doc: &utoipa::openapi::OpenApi) -> Needs {
        let mut map = HashMap::new();
        for (method, path, op) in super::params::operations(doc) {
            let sec = serde_json::to_value(&op.security).expect("security serializes");
            let Some(scopes) = sec.get(0).and_then(|r| r.get(SCHEME)) else {
                assert!(
                    !path.starts_with("/v1"),
                    "{method} {path} declares no security"
                );
                continue;
            };
            let scope = scopes.get(0).and_then(|s| s.as_str()).map(|s| {
                Scope::parse(s).unwrap_or_else(|| panic!("{method} {path}: no scope {s:?}"))
            });
            let purpose = scope.is_some_and(|s| s != Scope::ActsWrite);
            map.insert((method, path.clone()), Need { scope, purpose });
        }
        Needs(map)
    }

    pub fn get(&self, method: &Method, route: &str) -> Option<Need> {
        self.0.get(&(method.clone(), route.to_owned())).copied()
    }
}

/// The caller of a request, or the problem to answer instead.
pub async fn authorize(reg: &Registry, need: Need, headers: &HeaderMap) -> Result<Caller, Problem> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()))
        .map(str::trim);
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Err(unauthorized(
            "credential_required",
            "this route needs a credential: send `Authorization: Bearer <API key or JWT>` (or `X-Api-Key`)",
        ));
    };
    let client = reg.clients().identify(key).await.map_err(|e| match e {
        CredentialError::Ledger(e) => Problem::from(e),
        e => unauthorized("credential_invalid", &e.to_string()),
    })?;
    if let Some(scope) = need.scope
        && !client.scopes.contains(scope)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "scope_missing",
            format!(
                "this route needs the scope {}; this client has: {}",
                scope.as_str(),
                client.scopes
            ),
        ));
    }
    let purpose = if need.purpose {
        let Some(text) = headers.get(PURPOSE_HEADER) else {
            return Err(Problem::bad_request(
                "purpose_required",
                "header X-Purpose: state why you ask, as a purpose code (such as astana-registration), then `; case=REF` and `; consent=REF` where you have them",
            ));
        };
        let text = text.to_str().map_err(|_| {
            Problem::bad_request("invalid_purpose", "header X-Purpose: must be plain ASCII")
        })?;
        let p = Purpose::parse(text.trim()).map_err(|e| {
            Problem::bad_request("invalid_purpose", format!("header X-Purpose: {e}"))
        })?;
        Some(Arc::new(p))
    } else {
        None
    };
    Ok(Caller { client, purpose })
}

fn unauthorized(code: &'static str, detail: &str) -> Problem {
    let mut p = Problem::new(StatusCode::UNAUTHORIZED, code, detail);
    p.www_authenticate = true;
    p
}

/// The answer when the audit record cannot be written: nothing is told.
pub fn audit_unavailable() -> Problem {
    let mut p = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
        "the record of this lookup could not be written, so the answer is withheld; try again shortly",
    );
    p.retry_after = Some(5);
    p
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Problem::internal(&"a route without security asked for its caller"))
    }
}

/// Marks an answer whose audit record is written (by `query::Reader`, or
/// per segment by a streamed batch). A personal-data route's success
/// without it is refused: a handler that bypassed the read path.
#[derive(Clone, Copy)]
pub struct Audited;
