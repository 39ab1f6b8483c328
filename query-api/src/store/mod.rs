//! Queries against the read model.

pub mod audit;
pub mod catalog;
pub mod imports;
pub mod users;
