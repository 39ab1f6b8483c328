//! The audit trail: one event per moderator or administrator command, on the audit
//! events topic. Each audit entry is its own aggregate (version 1, keyed by its id),
//! so entries never contend with the aggregates they describe.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainEvent, accounts::Role};

/// A privileged command was carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecorded {
    /// The entry's id (UUIDv7, so ids sort by time).
    pub audit_id: Uuid,
    /// Who did it; `None` for the platform itself (e.g. bootstrapping an admin).
    pub actor_id: Option<Uuid>,
    /// The actor's role at the time.
    pub actor_role: Option<Role>,
    /// Dotted name of the command, e.g. `user.change_role`.
    pub action: String,
    /// What it was done to, as `<type>:<id>`, e.g. `user:019a…`.
    pub target: String,
    /// The request id (correlation id) of the command.
    pub request_id: String,
    /// When it was done.
    pub recorded_at: DateTime<Utc>,
    /// Command-specific facts worth keeping (never secrets or personal data).
    #[serde(default)]
    pub details: serde_json::Value,
}

impl DomainEvent for AuditRecorded {
    const EVENT_TYPE: &'static str = "audit.recorded";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "audit";
}
