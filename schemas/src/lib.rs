//! The event contract of the platform.
//!
//! Everything another team needs to consume the Kafka topics lives here: the
//! [`Envelope`] every record carries, the [`topics`] and their record conventions
//! ([`record`]), and the payload of every event type. The JSON Schema files under
//! `schemas/json/` are generated from these types (see [`catalog`]) and checked in, so
//! that consumers written in other languages never need to read Rust.
//!
//! Evolution rules: optional fields may be added to a payload at any time; removing or
//! retyping a field, or making an optional field required, is a new `schema_version`
//! (or a new event type). `tests/it` proves that every recorded sample of every
//! earlier version still deserializes.

pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod envelope;
pub mod imports;
pub mod record;
pub mod releases;
pub mod topics;

pub use envelope::{Actor, DomainEvent, Envelope, EventMeta, RawEnvelope};
