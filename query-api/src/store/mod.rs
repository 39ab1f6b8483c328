//! Queries against the read model.

pub mod catalog;
pub mod users;
