//! RFC 9457 problem details: every error the API returns has this shape,
//! with a stable `code` and a `detail` naming the field. Internals are
//! logged once here and never put in a body.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem: what went wrong with a request, as
/// `application/problem+json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:kinship:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:kinship:problem:invalid_iin")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    #[schema(example = "Bad Request")]
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(example = 400)]
    pub status: u16,
    /// A stable machine-readable code (docs/ERRORS.md).
    #[schema(example = "invalid_iin")]
    pub code: &'static str,
    /// A sentence for people, naming the field at fault.
    #[schema(example = "field owner: check digit is 4, expected 9")]
    pub detail: String,
    /// Seconds after which trying again makes sense (sent as `Retry-After`).
    #[serde(skip)]
    #[schema(ignore)]
    pub retry_after: Option<u32>,
    /// Sent with a `WWW-Authenticate: Bearer` header (401s).
    #[serde(skip)]
    #[schema(ignore)]
    pub www_authenticate: bool,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:kinship:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code,
            detail: detail.into(),
            retry_after: None,
            www_authenticate: false,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn body_unreadable() -> Problem {
        Problem::bad_request(
            "body_unreadable",
            "the request body could not be read to its end",
        )
    }

    pub fn person_unknown() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "person_unknown",
            "the registry has no record of this person",
        )
    }

    pub fn not_ready() -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the family graph is still being built from the ledger; try again shortly",
        )
    }

    /// The ledger's database cannot be reached right now: 503 with
    /// `Retry-After`, so callers try again rather than give up.
    pub fn unavailable() -> Problem {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the registry's database cannot be reached right now; try again shortly",
        );
        p.retry_after = Some(5);
        p
    }

    /// A failure that is ours, not the caller's: logged (without personal
    /// data), answered with a generic sentence.
    pub fn internal(err: &dyn std::fmt::Display) -> Problem {
        tracing::error!(error = %err, "request failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the service failed to answer; the failure has been logged",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("problem serializes");
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if self.www_authenticate {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"kinship\""),
            );
        }
        if let Some(s) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        res
    }
}

impl From<crate::ledger::LedgerError> for Problem {
    fn from(e: crate::ledger::LedgerError) -> Problem {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            Problem::unavailable()
        } else {
            Problem::internal(&e)
        }
    }
}
