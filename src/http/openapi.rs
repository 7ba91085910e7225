//! The OpenAPI 3.1 document of the API and the Swagger UI that browses it.
//!
//! The document is generated from the handlers themselves: every handler
//! carries `#[utoipa::path]`, and each module's `router()` registers it
//! with utoipa-axum's `routes!`, which adds the route to the axum router
//! and the operation to the document in one step, so the two cannot drift.
//! This module holds what no single handler owns: the document's header
//! (title, description, tags), the `X-Ledger-Seq` header every answer
//! carries, and schemas for types defined outside `http` (IIN, name,
//! refused record, the code lists) that the handlers' answers contain.

use super::{AppState, Problem, SEQ_HEADER};
use crate::acts::{Code, Kind};
pub use crate::query::schema::{
    BasisSchema, ClaimName, IinSchema, NameSchema, ReasonCode, RoleSchema, ViaSide,
};
use crate::query::schema::{runtime_schema, string_enum};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where Swagger UI is served (`/docs` redirects to `/docs/`).
pub const DOCS_PATH: &str = "/docs";

/// The name of the `X-Ledger-Seq` header in the document.
const SEQ_HEADER_NAME: &str = "X-Ledger-Seq";

const DESCRIPTION: &str = "\
kinship keeps an in-memory family graph built from Kazakhstan civil-registry \
act records (births, paternity, adoptions, marriages, divorces, deaths, name \
changes, annulments and residence registrations) and answers, with proof, \
whether two people are related in a given way on a given date: the kinship \
checks of the residence-registration and housing-queue services, a person's \
family and a dwelling's household, and staff pages (person card, relatives, \
act record, refused records). Acts are written through `POST /v1/acts`.

Every answer carries the `X-Ledger-Seq` header: the ledger sequence number \
(the last act applied) that the answer reflects at least. Only answers given \
before the graph is built (`503 not_ready`) lack it. With several replicas \
over one PostgreSQL ledger, a caller who wrote through one replica may send \
`X-Min-Ledger-Seq: n` to any other: it answers once it has applied record \
`n` (waiting up to 2 s), or `503 ledger_behind` with `Retry-After`; a value \
that is not a whole number is `400 invalid_min_seq`.

Errors are RFC 9457 `application/problem+json` bodies with a stable `code` \
and a `detail` naming the field at fault. `as_of` is optional everywhere and \
defaults to today in Kazakhstan (UTC+5); dates are `YYYY-MM-DD`; IINs are \
12-digit strings.";

#[derive(OpenApi)]
#[openapi(
    info(title = "kinship", description = DESCRIPTION),
    tags(
        (name = "checks", description = "Kinship checks for the government services, one at a time or as NDJSON batches"),
        (name = "family", description = "The family a housing check counts, and who is registered in a dwelling"),
        (name = "staff", description = "Pages for registry staff: a person's card, their relatives, one act record"),
        (name = "acts", description = "Writing act records, and the records that were refused"),
        (name = "audit", description = "Who looked a person up, and why"),
        (name = "health", description = "Liveness, readiness, metrics and the graph digest"),
    ),
    components(schemas(
        LineError,
        IinSchema,
        NameSchema,
        BasisSchema,
        RoleSchema,
        RefusedRowSchema,
        ClaimName,
        ViaSide,
        ReasonCode,
        RefusalCode,
        ActInput,
    ))
)]
struct ApiDoc;

/// The document's header and shared components, before the routes are added.
pub(super) fn base() -> utoipa::openapi::OpenApi {
    let mut api = ApiDoc::openapi();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api
}

/// Finishes the document built from the routes: every response but the
/// `503 not_ready` one carries `X-Ledger-Seq`, as `seq_header` adds it to
/// every answer once the graph is built.
pub(super) fn finish(api: &mut utoipa::openapi::OpenApi) {
    let components = api
        .components
        .get_or_insert_with(utoipa::openapi::Components::new);
    components.headers.insert(
        SEQ_HEADER_NAME.to_owned(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Int64,
                        )))
                        .minimum(Some(0)),
                ))
                .description(Some(
                    "The ledger sequence number this answer reflects at least: the last act \
                     applied when the request arrived (for POST /v1/acts, after its acts). \
                     Absent only before the graph is built.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        super::access::SCHEME,
        utoipa::openapi::security::SecurityScheme::Http(
            utoipa::openapi::security::HttpBuilder::new()
                .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key (`kinship clients add`), as `Authorization: Bearer <key>` or \
                     `X-Api-Key: <key>`. Each route names the scope it needs.",
                ))
                .build(),
        ),
    );
    let not_ready = StatusCode::SERVICE_UNAVAILABLE.as_u16().to_string();
    for item in api.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in ops.into_iter().flatten() {
            document_unknown_parameter(op);
            document_access(op);
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response
                    && *status != not_ready
                {
                    r.headers.insert(
                        SEQ_HEADER_NAME.to_owned(),
                        RefOr::Ref(Ref::new(format!("#/components/headers/{SEQ_HEADER_NAME}"))),
                    );
                }
            }
        }
    }
    debug_assert!(SEQ_HEADER.eq_ignore_ascii_case(SEQ_HEADER_NAME));
}

/// A problem response (adding to the description of one already there).
fn add_problem(op: &mut utoipa::openapi::path::Operation, status: StatusCode, what: &str) {
    let key = status.as_u16().to_string();
    match op.responses.responses.get_mut(&key) {
        Some(RefOr::T(r)) => r.description = format!("{}; {what}", r.description),
        Some(RefOr::Ref(_)) => {}
        None => {
            let problem = utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let r = utoipa::openapi::ResponseBuilder::new()
                .description(what)
                .content("application/problem+json", problem)
                .build();
            op.responses.responses.insert(key, RefOr::T(r));
        }
    }
}

/// Routes with a security requirement answer 401 and 403; those that
/// reveal personal data take `X-Purpose` and answer 503 when their audit
/// record cannot be written (`access::authorize`, `access::audited`).
fn document_access(op: &mut utoipa::openapi::path::Operation) {
    let sec = serde_json::to_value(&op.security).expect("security serializes");
    let Some(scopes) = sec.get(0).and_then(|r| r.get(super::access::SCHEME)) else {
        return;
    };
    add_problem(
        op,
        StatusCode::UNAUTHORIZED,
        "`credential_required`: no API key was sent; `credential_invalid`: the key is not known or was revoked",
    );
    add_problem(
        op,
        StatusCode::TOO_MANY_REQUESTS,
        "`rate_limited`: the client has sent more requests than its rate allows (with `Retry-After`)",
    );
    let Some(scope) = scopes.get(0).and_then(|s| s.as_str()) else {
        return;
    };
    add_problem(
        op,
        StatusCode::FORBIDDEN,
        &format!("`scope_missing`: the client lacks the scope `{scope}`"),
    );
    if scope == crate::access::Scope::ActsWrite.as_str() {
        return;
    }
    add_problem(
        op,
        StatusCode::BAD_REQUEST,
        "`purpose_required`: no `X-Purpose` header; `invalid_purpose`: it is not a purpose code followed by `; case=REF` / `; consent=REF`",
    );
    add_problem(
        op,
        StatusCode::SERVICE_UNAVAILABLE,
        "`audit_unavailable`: the record of this lookup could not be written, so the answer is withheld",
    );
    let purpose = utoipa::openapi::path::ParameterBuilder::new()
        .name("X-Purpose")
        .parameter_in(utoipa::openapi::path::ParameterIn::Header)
        .required(utoipa::openapi::Required::True)
        .description(Some(
            "Why you ask: a purpose code (2-64 of a-z, 0-9, '.', '_', '-'), then optionally \
             `; case=REF` and `; consent=REF` (1-64 of letters, digits, '.', '_', '-', ':', '/'); \
             at most 256 characters. Recorded with the answer in the audit.",
        ))
        .example(Some(serde_json::json!(
            "astana-registration; case=APP-2025-123"
        )))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(purpose));
}

/// Every route answers a query parameter it does not take with 400
/// `unknown_parameter` (`params::reject_unknown`): say so in its 400.
fn document_unknown_parameter(op: &mut utoipa::openapi::path::Operation) {
    add_problem(
        op,
        StatusCode::BAD_REQUEST,
        "`unknown_parameter`: a query parameter the route does not take",
    );
}

/// `GET /openapi.json` and Swagger UI at `/docs/`, which loads it.
pub(super) fn docs(api: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::from(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, api))
        .layer(axum::middleware::map_response(problem_for_bare_404))
}

/// Swagger UI answers an unknown file under `/docs/` with an empty 404; give
/// it the same problem body as every other unknown resource.
async fn problem_for_bare_404(res: Response) -> Response {
    if res.status() == StatusCode::NOT_FOUND
        && !res.headers().contains_key(axum::http::header::CONTENT_TYPE)
    {
        super::not_found().into_response()
    } else {
        res
    }
}

/// An NDJSON answer line for a request line that could not be answered.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the line `ndjson::NdjsonAnswer::error` writes
pub struct LineError {
    /// The request line it answers, counting from 1 (blank lines are counted).
    line: u64,
    error: Problem,
}

/// A refused record: the raw line and why it was refused.
#[derive(ToSchema)]
#[schema(as = RefusedRow)]
#[allow(dead_code)] // schema of `crate::ledger::RefusedRow`
pub struct RefusedRowSchema {
    /// Its id; pass the last one seen as `after` to page on.
    id: i64,
    /// The record's act_id, when it could be read.
    #[schema(required = true)]
    act_id: Option<String>,
    /// The refusal code (see the `RefusalCode` list).
    #[schema(value_type = RefusalCode)]
    code: String,
    /// A sentence naming the field at fault.
    detail: String,
    /// The line as received, as valid UTF-8 (bad bytes and NUL replaced)
    /// and cut to at most 64 KiB.
    raw: String,
    /// The length of the line as received, in bytes.
    raw_bytes: i64,
    /// Where it came from: `<import file>:<line>` or
    /// `http:<request id>:<line>`.
    source: String,
    /// The line number within its source, when there is one.
    #[schema(required = true)]
    line: Option<i64>,
    /// When it was received (RFC 3339, UTC).
    received_at: String,
}

runtime_schema!(
    RefusalCode,
    "RefusalCode",
    string_enum(
        Code::ALL.iter().map(|c| c.as_str()),
        "Why a record was refused; stable, for machines (docs/ERRORS.md lists them).",
    )
);
runtime_schema!(
    ActInput,
    "Act",
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "One civil-act record in the interchange format (civil-acts.md): an object with \
             a `kind` and the fields of that kind. A field the kind does not have is refused.",
        ))
        .property(
            "kind",
            string_enum(Kind::ALL.iter().map(|k| k.as_str()), "The kind of record."),
        )
        .required("kind")
        .property(
            "act_id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_./-]{1,64}$"))
                .description(Some("The registry's own number of the act record.")),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .examples([serde_json::json!({
            "kind": "birth",
            "act_id": "B-2001-0002",
            "date": "2001-03-09",
            "child": "010305500121",
            "mother": "750101400219",
            "father": "720415300125",
            "name": {"surname": "Ахметов", "given": "Ерлан", "patronymic": "Маратович"}
        })])
        .into()
);
