//! Topic names. Every name can be overridden in configuration; these are the
//! defaults, and an optional prefix (for several deployments sharing one cluster) is
//! prepended to all of them, dead-letter topics included.

/// Events of the catalogue: releases, episodes, video sources.
pub const CATALOG_EVENTS: &str = "catalog.events";
/// Events of user accounts: registration, roles, passwords, revoked sessions.
pub const ACCOUNT_EVENTS: &str = "account.events";
/// Sign-ins: one event per session opened. Kept apart from `account.events` because
/// it is the busiest account stream and no read model needs it.
pub const ACCOUNT_ACTIVITY: &str = "account.activity";
/// The audit trail of moderator and administrator commands.
pub const AUDIT_EVENTS: &str = "audit.events";
/// Events of user libraries: list entries, favourites, scores, progress.
pub const LIBRARY_EVENTS: &str = "library.events";
/// Events of catalogue imports: started, progressed, finished.
pub const IMPORT_EVENTS: &str = "import.events";
/// Commands the parser sends to the command side (the only writer of the catalogue).
pub const CATALOG_COMMANDS: &str = "catalog.commands";

/// The dead-letter topic of a consumer group.
pub fn dead_letter(group: &str) -> String {
    format!("{group}.dlq")
}
