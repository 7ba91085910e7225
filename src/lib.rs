//! kinship: an in-memory family graph built from civil-registry act
//! records, answering who is whose relative, with proof.
//!
//! # Layout (follows the data)
//! * [`iin`] — the IIN domain type; [`calendar`] — today in Kazakhstan.
//! * [`acts`] — act records: parsing, validation of each record alone,
//!   canonical form, refusal codes.
//!
//!   These two and the NDJSON framing live in the `kinship-acts` crate
//!   (`crates/kinship-acts`), re-exported here under the same paths.
//! * [`access`] — clients, scopes, purposes, and the audit of every lookup.
//! * [`ledger`] — the durable store (sqlx; SQLite or PostgreSQL).
//! * [`graph`] — the temporal family graph (petgraph) and the rules that
//!   need what is already recorded.
//! * [`registry`] — keeps ledger and graph in step: ingest, replay.
//! * [`resolve`] — kinship claims decided on the graph, with evidence.
//! * [`query`] — the one read path: every answer about a person, audited.
//! * [`generate`] — the deterministic synthetic population.
//! * [`http`], [`cli`] — the edges.
//!
//! `acts` (its own crate), `graph` and `query` know nothing of sqlx or axum.

pub mod access;
pub use kinship_acts::{acts, calendar};
pub mod cli;
pub mod generate;
pub mod graph;
pub mod http;
pub use kinship_acts::iin;
pub mod ledger;
pub mod query;
pub mod registry;
pub mod resolve;
