//! The end-to-end suite. It starts the real binaries (command-api, consumers,
//! query-api) against the real local stack (`scripts/stack up`), each test with its own
//! database and its own topic prefix, and checks what a client observes.
//!
//! Run it with `scripts/test`, which starts the stack and builds the binaries first.

mod accounts;
mod catalogue_import;
mod catalogue_search;
mod compose;
mod contracts;
mod delivery;
mod imports;
mod moderation;
mod parser;
mod rate_limits;
mod registration;
mod route_roles;
mod search_relevance;
mod tokens;
