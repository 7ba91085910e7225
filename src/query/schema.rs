//! Schemas of the domain types the answers contain (IIN, name, basis,
//! role) and of the code lists read from the code at run time (claims,
//! sides, reasons), for the OpenAPI document. Here, beside the answers,
//! so that `query` describes its own shapes without depending on `http`.

use crate::resolve::{Claim, Reason};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A 12-digit individual identification number (IIN), always a string.
#[derive(ToSchema)]
#[schema(
    as = Iin,
    value_type = String,
    pattern = "^[0-9]{12}$",
    example = "750101400219"
)]
#[allow(dead_code)] // schema of `crate::iin::Iin`
pub struct IinSchema(String);

/// A person's name as registered.
#[derive(ToSchema)]
#[schema(as = Name)]
#[allow(dead_code)] // schema of `crate::acts::Name`
pub struct NameSchema {
    #[schema(example = "Ахметов")]
    surname: String,
    #[schema(example = "Ерлан")]
    given: String,
    /// Absent when the record has none.
    #[schema(example = "Маратович")]
    patronymic: Option<String>,
}

/// On what a legal-parent link rests.
#[derive(ToSchema)]
#[schema(as = Basis, rename_all = "lowercase")]
#[allow(dead_code)] // schema of `crate::graph::Basis`
pub enum BasisSchema {
    Birth,
    Paternity,
    Adoption,
}

/// A parent's role.
#[derive(ToSchema)]
#[schema(as = Role, rename_all = "lowercase")]
#[allow(dead_code)] // schema of `crate::graph::Role`
pub enum RoleSchema {
    Mother,
    Father,
}

/// A JSON schema listing `values` as the only strings allowed.
pub(crate) fn string_enum<'a>(
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> RefOr<Schema> {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(seen))
        .description(Some(description))
        .into()
}

/// Declares a schema whose values come from the code at run time.
macro_rules! runtime_schema {
    ($ty:ident, $name:literal, $body:expr) => {
        pub struct $ty;
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $body
            }
        }
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

pub(crate) use runtime_schema;

runtime_schema!(
    ClaimName,
    "Claim",
    string_enum(
        Claim::ALL.iter().map(|c| c.name()),
        "A kinship claim: the applicant is the owner's <claim>. half_sibling, \
         grandparent and grandchild need `via`; the others take none.",
    )
);
runtime_schema!(
    ViaSide,
    "Via",
    string_enum(
        ["mother", "father"],
        "Through which parent: the legal mother's or the legal father's side.",
    )
);
runtime_schema!(
    ReasonCode,
    "Reason",
    string_enum(
        Reason::ALL.iter().map(|r| r.code()),
        "Why a claim is not confirmed; stable, for machines. `detail` says it in a sentence.",
    )
);
