//! The clients allowed to call, held in memory (every request looks its
//! key up) and read again from the ledger every few seconds, so a client
//! added or revoked by another process (`kinship clients`) takes effect.

use super::{JwtError, JwtIssuer, Scopes, key_hash, new_key, now_micros};
use crate::ledger::{ClientRow, Ledger, LedgerError};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// A client as the service knows it (never its key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: i64,
    pub name: String,
    pub scopes: Scopes,
    /// Unix microseconds.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client named {0:?} exists already")]
    Exists(String),
    #[error("no active client is named {0:?}")]
    Unknown(String),
    #[error("an API key is at least 32 visible ASCII characters")]
    WeakKey,
    #[error("a client name is 1 to 64 letters, digits, '.', '_' or '-'")]
    BadName,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Why a credential is refused (401, with this sentence), or could not be
/// checked (the ledger: 503).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential is not known, or has been revoked")]
    Unknown,
    #[error("JWTs are not accepted here: no issuer is configured")]
    NoIssuer,
    #[error("{0}")]
    Jwt(#[from] JwtError),
    #[error("client {0} has been revoked")]
    Revoked(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

pub struct Clients {
    ledger: Ledger,
    /// Active clients by the hash of their key.
    by_hash: RwLock<HashMap<[u8; 32], Arc<Client>>>,
    /// The JWT issuer, when one is configured.
    issuer: RwLock<Option<Arc<JwtIssuer>>>,
    /// Clients known by JWT (`jwt:<sub>`) and operators (`cli:<user>`),
    /// revoked ones too, by name.
    subjects: RwLock<HashMap<String, Arc<Client>>>,
}

/// The prefix of the names of clients known by JWT: `kinship clients add`
/// refuses `:` in a name, so a key client can never take one.
pub const JWT_PREFIX: &str = "jwt:";

/// The prefix of the names of operators reading through the command line
/// (`kinship export`): recorded in the audit like any client, never a key.
pub const OPERATOR_PREFIX: &str = "cli:";

/// A client without a key of its own: a JWT subject or an operator.
fn keyless(name: &str) -> bool {
    name.starts_with(JWT_PREFIX) || name.starts_with(OPERATOR_PREFIX)
}

fn client(row: &ClientRow) -> Result<Client, LedgerError> {
    Ok(Client {
        id: row.id,
        name: row.name.clone(),
        // A JWT subject's scopes are in each of its tokens, not here.
        scopes: if keyless(&row.name) && row.scopes.is_empty() {
            Scopes::default()
        } else {
            Scopes::parse_list(&row.scopes)
                .map_err(|e| LedgerError::Corrupt(format!("client {}: {e}", row.id)))?
        },
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    })
}

impl Clients {
    pub async fn load(ledger: Ledger) -> Result<Clients, LedgerError> {
        let c = Clients {
            ledger,
            by_hash: RwLock::default(),
            issuer: RwLock::default(),
            subjects: RwLock::default(),
        };
        c.refresh().await?;
        Ok(c)
    }

    /// Reads the clients from the ledger again.
    pub async fn refresh(&self) -> Result<(), LedgerError> {
        let mut map = HashMap::new();
        let mut subjects = HashMap::new();
        for row in self.ledger.clients().await? {
            if keyless(&row.name) {
                subjects.insert(row.name.clone(), Arc::new(client(&row)?));
                continue;
            }
            if row.revoked_at.is_some() {
                continue;
            }
            let Ok(hash) = <[u8; 32]>::try_from(row.key_hash.as_slice()) else {
                return Err(LedgerError::Corrupt(format!(
                    "client {}: the key hash is not 32 bytes",
                    row.id
                )));
            };
            map.insert(hash, Arc::new(client(&row)?));
        }
        *self.by_hash.write() = map;
        *self.subjects.write() = subjects;
        Ok(())
    }

    /// Accepts JWTs from `issuer` from now on.
    pub fn set_issuer(&self, issuer: JwtIssuer) {
        *self.issuer.write() = Some(Arc::new(issuer));
    }

    /// The client presenting `credential`: an API key, or a JWT from the
    /// configured issuer (whose subject is registered as a client on first
    /// sight, and carries the token's scopes).
    pub async fn identify(&self, credential: &str) -> Result<Arc<Client>, CredentialError> {
        if !JwtIssuer::looks_like_jwt(credential) {
            return self
                .authenticate(credential)
                .ok_or(CredentialError::Unknown);
        }
        let issuer = self.issuer.read().clone();
        let Some(issuer) = issuer else {
            return Err(CredentialError::NoIssuer);
        };
        let (sub, scopes) = issuer.verify(credential)?;
        self.keyless(format!("{JWT_PREFIX}{sub}"), scopes).await
    }

    /// The operator `user` of the command line, registered on first use,
    /// with every scope (whoever can run the command reads the database).
    pub async fn operator(&self, user: &str) -> Result<Arc<Client>, CredentialError> {
        self.keyless(format!("{OPERATOR_PREFIX}{user}"), Scopes::all())
            .await
    }

    /// The keyless client `name` (registered on first sight) with `scopes`.
    async fn keyless(&self, name: String, scopes: Scopes) -> Result<Arc<Client>, CredentialError> {
        let known = self.subjects.read().get(&name).cloned();
        let row = match known {
            Some(c) => c,
            None => self.register_subject(&name).await?,
        };
        if row.revoked_at.is_some() {
            return Err(CredentialError::Revoked(name));
        }
        Ok(Arc::new(Client {
            scopes,
            ..(*row).clone()
        }))
    }

    /// The client row of a JWT subject seen for the first time (or added
    /// meanwhile by another replica). Its key hash is of 32 random bytes
    /// nobody holds: it is never a key.
    async fn register_subject(&self, name: &str) -> Result<Arc<Client>, CredentialError> {
        let (_, hash) = new_key();
        let at = now_micros();
        match self.ledger.add_client(name, &hash, "", at).await {
            Ok(id) => {
                let c = Arc::new(Client {
                    id,
                    name: name.to_owned(),
                    scopes: Scopes::default(),
                    created_at: at,
                    revoked_at: None,
                });
                self.subjects.write().insert(name.to_owned(), c.clone());
                Ok(c)
            }
            Err(e) if e.is_unique_violation() => {
                self.refresh().await?;
                self.subjects
                    .read()
                    .get(name)
                    .cloned()
                    .ok_or(CredentialError::Unknown)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Refreshes every `every` for as long as the runtime runs.
    pub fn spawn_refresh(self: &Arc<Self>, every: std::time::Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(c) = me.upgrade() else { return };
                if let Err(e) = c.refresh().await {
                    tracing::warn!(error = %e, "could not read the clients again; keeping the last list");
                }
            }
        });
    }

    /// The active client holding `key`.
    pub fn authenticate(&self, key: &str) -> Option<Arc<Client>> {
        self.by_hash.read().get(&key_hash(key)).cloned()
    }

    /// Adds a client; its key is returned once and stored only as a hash.
    pub async fn add(&self, name: &str, scopes: Scopes) -> Result<(Client, String), ClientError> {
        let (key, _) = new_key();
        let c = self.add_with_key(name, scopes, &key).await?;
        Ok((c, key))
    }

    /// Adds a client holding a key made elsewhere (a secret store, a test),
    /// at least 32 characters long.
    pub async fn add_with_key(
        &self,
        name: &str,
        scopes: Scopes,
        key: &str,
    ) -> Result<Client, ClientError> {
        if key.len() < 32 || key.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(ClientError::WeakKey);
        }
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !name_ok {
            return Err(ClientError::BadName);
        }
        let hash = key_hash(key);
        let at = now_micros();
        let id = self
            .ledger
            .add_client(name, &hash, &scopes.to_string(), at)
            .await
            .map_err(|e| match e {
                e if e.is_unique_violation() => ClientError::Exists(name.to_owned()),
                e => ClientError::Ledger(e),
            })?;
        let c = Client {
            id,
            name: name.to_owned(),
            scopes,
            created_at: at,
            revoked_at: None,
        };
        self.by_hash.write().insert(hash, Arc::new(c.clone()));
        Ok(c)
    }

    /// Every client, revoked ones too.
    pub async fn list(&self) -> Result<Vec<Client>, LedgerError> {
        self.ledger.clients().await?.iter().map(client).collect()
    }

    /// Revokes a client: its key is refused from now on (by other
    /// processes serving the same ledger, within their refresh period).
    pub async fn revoke(&self, name: &str) -> Result<(), ClientError> {
        if !self.ledger.revoke_client(name, now_micros()).await? {
            return Err(ClientError::Unknown(name.to_owned()));
        }
        self.by_hash.write().retain(|_, c| c.name != name);
        if let Some(c) = self.subjects.write().get_mut(name) {
            *c = Arc::new(Client {
                revoked_at: Some(now_micros()),
                ..(**c).clone()
            });
        }
        Ok(())
    }
}
