//! The interchange side of kinship, apart from the service so that what
//! reads untrusted bytes builds (and is fuzzed) without a database or an
//! HTTP stack — Cargo enforces that it knows nothing of either:
//! * [`iin`] — the IIN: parsed once into a `u64` newtype, birth date and
//!   sex derived; [`calendar`] — today in Kazakhstan.
//! * [`acts`] — one record → a typed `Act` or a `Refusal` with a stable
//!   code; the canonical form; the compact binary form of the replay log.
//! * [`ndjson`] — NDJSON framing: lines in bounded memory, numbered.

pub mod acts;
pub mod calendar;
pub mod iin;
pub mod ndjson;
