//! The command side's domain: the rules a command must satisfy before any state
//! changes. Nothing here touches the database or HTTP.

pub mod accounts;
pub mod passwords;
pub mod releases;
