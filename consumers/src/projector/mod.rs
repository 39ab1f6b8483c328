//! The `projector` consumer group: keeps the read model in PostgreSQL.
//!
//! - Consumes: the account events topic and the audit events topic.
//! - Produces: rows in the `read` schema (`user_profiles`, `audit_log`); records it
//!   cannot apply go to `projector.dlq`.
//! - Guarantees: every row carries the aggregate version of the newest event applied
//!   to it, and an event whose version is not newer changes nothing, so re-delivered,
//!   duplicated or late events are harmless (an exactly-once *effect* on top of
//!   at-least-once delivery). Event types it does not know are skipped, so new
//!   producers never block it.

use schemas::{
    RawEnvelope,
    accounts::{UserPasswordChanged, UserRegistered, UserRoleChanged, UserSessionsRevoked},
    audit::AuditRecorded,
};
use sqlx::PgPool;

use crate::runtime::{Handler, HandlerError, Record};

/// Applies events to the read model.
pub struct Projector {
    pool: PgPool,
}

impl Projector {
    /// A projector writing to `pool` (whose `search_path` is the read schema).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn user_registered(&self, envelope: &RawEnvelope) -> Result<(), HandlerError> {
        let event: UserRegistered = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("user.registered payload: {error}")))?;
        sqlx::query(
            "INSERT INTO user_profiles (user_id, username, role, registered_at, version) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id) DO UPDATE SET \
                 username = EXCLUDED.username, role = EXCLUDED.role, \
                 registered_at = EXCLUDED.registered_at, version = EXCLUDED.version, \
                 projected_at = now() \
             WHERE user_profiles.version < EXCLUDED.version",
        )
        .bind(event.user_id)
        .bind(&event.username)
        .bind(
            serde_json::to_value(event.role)
                .ok()
                .and_then(|role| role.as_str().map(str::to_owned)),
        )
        .bind(event.registered_at)
        .bind(envelope.meta.aggregate_version)
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        Ok(())
    }
}

impl Projector {
    async fn user_role_changed(&self, envelope: &RawEnvelope) -> Result<(), HandlerError> {
        let event: UserRoleChanged = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("user.role_changed payload: {error}")))?;
        sqlx::query(
            "UPDATE user_profiles SET role = $2, version = $3, projected_at = now() \
             WHERE user_id = $1 AND version < $3",
        )
        .bind(event.user_id)
        .bind(role_name(event.role))
        .bind(envelope.meta.aggregate_version)
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        Ok(())
    }

    /// Events that change nothing a profile shows still advance its version, so a
    /// reader waiting for `min_version` after them is not kept waiting.
    async fn user_version_advanced(&self, envelope: &RawEnvelope) -> Result<(), HandlerError> {
        let user_id: uuid::Uuid = envelope
            .meta
            .aggregate_id
            .parse()
            .map_err(|error| HandlerError::Poison(format!("user aggregate id: {error}")))?;
        sqlx::query(
            "UPDATE user_profiles SET version = $2, projected_at = now() \
             WHERE user_id = $1 AND version < $2",
        )
        .bind(user_id)
        .bind(envelope.meta.aggregate_version)
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        Ok(())
    }

    async fn audit_recorded(&self, envelope: &RawEnvelope) -> Result<(), HandlerError> {
        let event: AuditRecorded = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("audit.recorded payload: {error}")))?;
        sqlx::query(
            "INSERT INTO audit_log \
             (audit_id, actor_id, actor_role, action, target, request_id, recorded_at, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (audit_id) DO NOTHING",
        )
        .bind(event.audit_id)
        .bind(event.actor_id)
        .bind(event.actor_role.map(role_name))
        .bind(&event.action)
        .bind(&event.target)
        .bind(&event.request_id)
        .bind(event.recorded_at)
        .bind(&event.details)
        .execute(&self.pool)
        .await
        .map_err(database_error)?;
        Ok(())
    }
}

fn role_name(role: schemas::accounts::Role) -> Option<String> {
    serde_json::to_value(role)
        .ok()
        .and_then(|role| role.as_str().map(str::to_owned))
}

impl Handler for Projector {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let envelope = record.envelope()?;

        if envelope.is::<UserRegistered>() {
            return self.user_registered(&envelope).await;
        }
        if envelope.is::<UserRoleChanged>() {
            return self.user_role_changed(&envelope).await;
        }
        if envelope.is::<UserPasswordChanged>() || envelope.is::<UserSessionsRevoked>() {
            return self.user_version_advanced(&envelope).await;
        }
        if envelope.is::<AuditRecorded>() {
            return self.audit_recorded(&envelope).await;
        }
        tracing::trace!(event.r#type = %envelope.meta.event_type, "event type not projected");
        Ok(())
    }
}

/// Connection trouble is worth waiting for; anything else is a failed attempt.
pub(crate) fn database_error(error: sqlx::Error) -> HandlerError {
    match error {
        error if platform::db::is_unavailable(&error) => {
            HandlerError::Unavailable(format!("database: {error}"))
        }
        error => HandlerError::Failed(format!("database: {error}")),
    }
}
