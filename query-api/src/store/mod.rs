//! Queries against the read model.

pub mod audit;
pub mod catalog;
pub mod users;
pub mod imports;
