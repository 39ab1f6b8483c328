//! The `projector` consumer group: keeps the read model in PostgreSQL.
//!
//! - Consumes: the account events topic.
//! - Produces: rows in the `read` schema (`user_profiles`); records it cannot apply go
//!   to `projector.dlq`.
//! - Guarantees: every row carries the aggregate version of the newest event applied
//!   to it, and an event whose version is not newer changes nothing, so re-delivered,
//!   duplicated or late events are harmless (an exactly-once *effect* on top of
//!   at-least-once delivery). Event types it does not know are skipped, so new
//!   producers never block it.

use schemas::{RawEnvelope, accounts::UserRegistered};
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

impl Handler for Projector {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let value = record
            .value
            .as_deref()
            .ok_or_else(|| HandlerError::Poison("record has no value".to_owned()))?;
        let envelope: RawEnvelope = serde_json::from_slice(value)
            .map_err(|error| HandlerError::Poison(format!("not an event envelope: {error}")))?;

        if envelope.is::<UserRegistered>() {
            return self.user_registered(&envelope).await;
        }
        tracing::trace!(event.r#type = %envelope.meta.event_type, "event type not projected");
        Ok(())
    }
}

/// Connection trouble is worth waiting for; anything else is a failed attempt.
pub(crate) fn database_error(error: sqlx::Error) -> HandlerError {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            HandlerError::Unavailable(format!("database: {error}"))
        }
        error => HandlerError::Failed(format!("database: {error}")),
    }
}
