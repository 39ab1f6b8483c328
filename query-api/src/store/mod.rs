//! Queries against the read model.

pub mod users;
