//! JWT credentials from one configured issuer, verified against keys read
//! from a file (a JWKS document or a PEM public key; nothing is fetched).
//! The token names the client (`sub`) and its scopes (`scope`, space
//! separated, as OAuth 2 writes them); `iss`, `aud` and `exp` must hold.
//! Each subject becomes a client row `jwt:<sub>` on first sight, so the
//! audit names it like any other client and `kinship clients revoke
//! jwt:<sub>` shuts it out.

use super::{Scope, Scopes};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use std::path::Path;

/// The configured issuer and its keys.
pub struct JwtIssuer {
    issuer: String,
    audience: String,
    /// With their key id, when the file gives one.
    keys: Vec<(Option<String>, DecodingKey)>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: neither a JWKS document nor a PEM public key (RSA, EC or Ed25519): {1}")]
    Keys(String, String),
    #[error("{0}: holds no key")]
    Empty(String),
}

/// Why a token is refused; the sentence goes to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not from the configured issuer")]
    Issuer,
    #[error("the token is not meant for this service (aud)")]
    Audience,
    #[error("the token's signature does not verify with the issuer's keys")]
    Signature,
    #[error("the token cannot be read: {0}")]
    Malformed(String),
    #[error(
        "the token's sub must be 1 to 60 letters, digits, '.', '_' or '-' (it names the client)"
    )]
    Subject,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: String,
}

/// The longest `sub`: `jwt:` + it is a client name (at most 64).
const MAX_SUB: usize = 60;

impl JwtIssuer {
    /// Reads the issuer's keys from `path`: a JWKS document (`{"keys": [...]}`)
    /// or one PEM public key.
    pub fn from_file(
        issuer: &str,
        audience: &str,
        path: &Path,
    ) -> Result<JwtIssuer, JwtConfigError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| JwtConfigError::Read(shown.clone(), e))?;
        let keys = if bytes.trim_ascii_start().starts_with(b"{") {
            let set: JwkSet = serde_json::from_slice(&bytes)
                .map_err(|e| JwtConfigError::Keys(shown.clone(), e.to_string()))?;
            set.keys
                .iter()
                .map(|k| {
                    DecodingKey::from_jwk(k)
                        .map(|d| (k.common.key_id.clone(), d))
                        .map_err(|e| JwtConfigError::Keys(shown.clone(), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let key = DecodingKey::from_ed_pem(&bytes)
                .or_else(|_| DecodingKey::from_ec_pem(&bytes))
                .or_else(|_| DecodingKey::from_rsa_pem(&bytes))
                .map_err(|e| JwtConfigError::Keys(shown.clone(), e.to_string()))?;
            vec![(None, key)]
        };
        if keys.is_empty() {
            return Err(JwtConfigError::Empty(shown));
        }
        Ok(JwtIssuer {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys,
        })
    }

    /// Whether `credential` has the shape of a JWT (three base64url parts,
    /// the first a JSON object) rather than an API key.
    pub fn looks_like_jwt(credential: &str) -> bool {
        credential.starts_with("eyJ") && credential.bytes().filter(|&b| b == b'.').count() == 2
    }

    /// The subject and its scopes (those this service knows; others, meant
    /// for other services, are left out), if the token holds.
    pub fn verify(&self, token: &str) -> Result<(String, Scopes), JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        let candidates = self
            .keys
            .iter()
            .filter(|(kid, _)| header.kid.is_none() || kid.is_none() || *kid == header.kid);
        let mut last = JwtError::Signature;
        for (_, key) in candidates {
            let mut v = Validation::new_for_family(key.family());
            v.set_issuer(&[&self.issuer]);
            v.set_audience(&[&self.audience]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            v.leeway = 30;
            match jsonwebtoken::decode::<Claims>(token, key, &v) {
                Ok(data) => return subject(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::ExpiredSignature => return Err(JwtError::Expired),
                        K::InvalidIssuer => return Err(JwtError::Issuer),
                        K::InvalidAudience => return Err(JwtError::Audience),
                        K::InvalidSignature | K::InvalidAlgorithm => JwtError::Signature,
                        _ => JwtError::Malformed(e.to_string()),
                    };
                }
            }
        }
        Err(last)
    }
}

fn subject(c: Claims) -> Result<(String, Scopes), JwtError> {
    let ok = (1..=MAX_SUB).contains(&c.sub.len())
        && c.sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(JwtError::Subject);
    }
    let scopes = c
        .scope
        .split_ascii_whitespace()
        .filter_map(Scope::parse)
        .collect();
    Ok((c.sub, scopes))
}
