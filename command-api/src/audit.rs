//! The audit trail of privileged commands.
//!
//! Every moderator and administrator command calls [`record`] inside its own
//! transaction, so the command and its audit entry commit together or not at all.
//! The entry travels as an `audit.recorded` event on the audit events topic; the
//! projector keeps `read.audit_log` for `GET /v1/admin/audit`. Catalogue commands
//! call it the same way.

use chrono::Utc;
use platform::auth::Principal;
use schemas::{Actor, Envelope, audit::AuditRecorded};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::outbox;

/// Who did a privileged command, and in which request.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The signed-in caller; `None` for the platform itself (bootstrapping).
    pub actor: Option<Principal>,
    /// The request id, also the correlation id of the command's events.
    pub request_id: String,
}

/// What was done to what.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// Dotted command name, e.g. `user.change_role`.
    pub action: &'a str,
    /// `<type>:<id>` of what it was done to, e.g. `user:019a…`.
    pub target: String,
    /// Facts worth keeping; never secrets or personal data.
    pub details: serde_json::Value,
}

/// Appends the audit event of one command to the outbox, inside `tx`.
pub async fn record(
    tx: &mut PgConnection,
    topic: &str,
    context: &AuditContext,
    entry: AuditEntry<'_>,
) -> Result<Uuid, sqlx::Error> {
    let audit_id = Uuid::now_v7();
    let actor = match context.actor {
        Some(principal) => Actor::User {
            id: principal.user_id,
        },
        None => Actor::System {
            name: "command-api".to_owned(),
        },
    };
    let event = Envelope::new(
        audit_id.to_string(),
        1,
        context.request_id.clone(),
        actor,
        AuditRecorded {
            audit_id,
            actor_id: context.actor.map(|principal| principal.user_id),
            actor_role: context.actor.map(|principal| principal.role),
            action: entry.action.to_owned(),
            target: entry.target,
            request_id: context.request_id.clone(),
            recorded_at: Utc::now(),
            details: entry.details,
        },
    );
    outbox::append(tx, topic, &event).await?;
    Ok(audit_id)
}
