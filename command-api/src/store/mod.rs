//! Persistence of the write model. Every function that changes state takes the
//! transaction it must run in, so the caller can add the outbox rows to it.

pub mod accounts;
pub mod catalog;
pub mod imports;
pub mod sessions;
