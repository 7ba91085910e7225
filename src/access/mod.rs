//! Who may ask, why, and the record of who asked about whom.
//!
//! Every personal-data answer goes to an identified client (an API key,
//! kept only as its SHA-256 hash) holding the scope the route needs, for a
//! purpose stated with the request, and leaves an audit record naming
//! every IIN it revealed. The audit is written in groups ([`Auditor`]); an
//! answer is given only once its record is committed (fail closed).
//! Nothing here knows about HTTP.

mod audit;
mod clients;
mod jwt;
mod log;

pub use audit::{AuditError, Auditor};
pub use clients::{Client, ClientError, Clients, CredentialError};
pub use jwt::{JwtConfigError, JwtError, JwtIssuer};

use std::fmt;
use std::sync::Arc;

/// What a client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Kinship checks, family, household.
    Checks,
    /// Recording act records.
    ActsWrite,
    /// Person cards, relatives, acts, refused records.
    Investigate,
    /// Who looked whom up.
    Audit,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Checks,
        Scope::ActsWrite,
        Scope::Investigate,
        Scope::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Checks => "checks",
            Scope::ActsWrite => "acts:write",
            Scope::Investigate => "investigate",
            Scope::Audit => "audit",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Scopes {
        Scope::ALL.into_iter().collect()
    }

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Scope names separated by commas or spaces.
    pub fn parse_list(s: &str) -> Result<Scopes, String> {
        let mut out = Scopes::default();
        for name in s.split([',', ' ']).filter(|n| !n.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| {
                format!(
                    "unknown scope {name:?} (scopes: {})",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })?;
            out.0 |= scope.bit();
        }
        if out.is_empty() {
            return Err("name at least one scope".into());
        }
        Ok(out)
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(it: I) -> Scopes {
        Scopes(it.into_iter().fold(0, |b, s| b | s.bit()))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(" "))
    }
}

/// Why a request asks, as stated: `astana-registration; case=APP-2025-123;
/// consent=C-77`. The purpose is a lower-case code; a case and a consent
/// reference may follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purpose {
    pub code: String,
    pub case: Option<String>,
    pub consent: Option<String>,
}

/// The longest purpose header accepted.
pub const PURPOSE_MAX: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurposeError {
    #[error("the purpose is longer than {PURPOSE_MAX} characters")]
    TooLong,
    #[error(
        "the purpose must begin with a code of 2 to 64 lower-case letters, digits, '.', '_' or '-' (such as astana-registration)"
    )]
    BadCode,
    #[error(
        "after the purpose code only case=REF and consent=REF may follow, separated by ';', each once"
    )]
    BadPart,
    #[error("a case or consent reference is 1 to 64 letters, digits or '.', '_', '-', ':', '/'")]
    BadRef,
}

impl Purpose {
    pub fn parse(s: &str) -> Result<Purpose, PurposeError> {
        if s.len() > PURPOSE_MAX {
            return Err(PurposeError::TooLong);
        }
        let mut parts = s.split(';').map(str::trim);
        let code = parts.next().unwrap_or_default();
        let code_ok = (2..=64).contains(&code.len())
            && code.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !code_ok {
            return Err(PurposeError::BadCode);
        }
        let mut p = Purpose {
            code: code.to_owned(),
            case: None,
            consent: None,
        };
        for part in parts {
            let Some((k, v)) = part.split_once('=') else {
                return Err(PurposeError::BadPart);
            };
            let slot = match k.trim() {
                "case" => &mut p.case,
                "consent" => &mut p.consent,
                _ => return Err(PurposeError::BadPart),
            };
            if slot.is_some() {
                return Err(PurposeError::BadPart);
            }
            let v = v.trim();
            let ref_ok = (1..=64).contains(&v.len())
                && v.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/')
                });
            if !ref_ok {
                return Err(PurposeError::BadRef);
            }
            *slot = Some(v.to_owned());
        }
        Ok(p)
    }
}

/// The identified caller of one request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client: Arc<Client>,
    /// Present on every route that answers with personal data.
    pub purpose: Option<Arc<Purpose>>,
}

/// A new API key and the hash it is stored as.
pub fn new_key() -> (String, [u8; 32]) {
    use base64::Engine;
    let secret: [u8; 32] = rand::random();
    let key = format!(
        "kin_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = key_hash(&key);
    (key, hash)
}

/// What a key is stored and looked up as.
pub fn key_hash(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// Now, in Unix microseconds (the clients' and the audit's clock).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_are_read_and_refused_as_documented() {
        let p = Purpose::parse("astana-registration; case=APP-2025-123; consent=C-77").unwrap();
        assert_eq!(p.code, "astana-registration");
        assert_eq!(p.case.as_deref(), Some("APP-2025-123"));
        assert_eq!(p.consent.as_deref(), Some("C-77"));
        assert_eq!(Purpose::parse("housing-queue").unwrap().case, None);
        assert_eq!(Purpose::parse(""), Err(PurposeError::BadCode));
        assert_eq!(Purpose::parse("Astana"), Err(PurposeError::BadCode));
        assert_eq!(Purpose::parse("x; case"), Err(PurposeError::BadCode));
        assert_eq!(Purpose::parse("xy; case"), Err(PurposeError::BadPart));
        assert_eq!(Purpose::parse("xy; who=me"), Err(PurposeError::BadPart));
        assert_eq!(
            Purpose::parse("xy; case=a; case=b"),
            Err(PurposeError::BadPart)
        );
        assert_eq!(Purpose::parse("xy; case=a b"), Err(PurposeError::BadRef));
        assert_eq!(Purpose::parse("xy; case="), Err(PurposeError::BadRef));
        assert_eq!(
            Purpose::parse(&format!("xy; case={}", "a".repeat(300))),
            Err(PurposeError::TooLong)
        );
    }

    #[test]
    fn scopes_read_back_as_written() {
        let s = Scopes::parse_list("checks, audit").unwrap();
        assert!(s.contains(Scope::Checks) && s.contains(Scope::Audit));
        assert!(!s.contains(Scope::ActsWrite));
        assert_eq!(Scopes::parse_list(&s.to_string()).unwrap(), s);
        assert!(Scopes::parse_list("checks,root").is_err());
        assert!(Scopes::parse_list("").is_err());
        assert_eq!(
            Scopes::all().to_string(),
            "checks acts:write investigate audit"
        );
    }

    #[test]
    fn keys_are_new_each_time_and_hash_to_what_is_stored() {
        let (a, ha) = new_key();
        let (b, _) = new_key();
        assert_ne!(a, b);
        assert!(a.starts_with("kin_") && a.len() == 47, "{a}");
        assert_eq!(key_hash(&a), ha);
    }
}
