//! The `catalog-projector` consumer group: keeps the catalogue read model in
//! PostgreSQL and drops the query API's cached answers that a change made stale.
//!
//! - Consumes: the catalogue events topic (`release.upserted`, `release.deleted`,
//!   `release.sources_upserted`, `release.sources_removed`).
//! - Produces: rows in the `read` schema: `releases` (cards and details; a deleted
//!   release stays as a tombstone), `release_episodes` (numeric episode numbers) and
//!   `release_sources` (one row per translation). Records it cannot apply go to
//!   `catalog-projector.dlq`.
//! - Guarantees: each row keeps the release's aggregate version of the newest event
//!   applied to it, and an event that is not newer changes nothing, so re-delivered
//!   and late events are harmless. After applying a newer version it deletes the
//!   release's cache entries and the list cache in Redis (see [`cache`]); a Redis
//!   outage only delays that until the entries expire, it never blocks the group.

pub mod cache;
mod store;

use schemas::{
    RawEnvelope,
    releases::{ReleaseDeleted, ReleaseSourcesRemoved, ReleaseSourcesUpserted, ReleaseUpserted},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::runtime::{Handler, HandlerError, Record};

pub use cache::{CacheArgs, CacheInvalidator};

/// Applies catalogue events to the read model.
pub struct CatalogProjector {
    pool: PgPool,
    cache: CacheInvalidator,
}

impl CatalogProjector {
    /// A projector writing to `pool` (whose `search_path` is the read schema) and
    /// invalidating through `cache`.
    pub fn new(pool: PgPool, cache: CacheInvalidator) -> Self {
        Self { pool, cache }
    }

    async fn apply(&self, envelope: &RawEnvelope) -> Result<Option<Uuid>, HandlerError> {
        let version = envelope.meta.aggregate_version;
        if envelope.is::<ReleaseUpserted>() {
            let event: ReleaseUpserted = payload(envelope)?;
            let applied =
                store::upsert_release(&self.pool, &event, version, envelope.meta.occurred_at)
                    .await
                    .map_err(database_error)?;
            return Ok(applied.then_some(event.release_id));
        }
        if envelope.is::<ReleaseDeleted>() {
            let event: ReleaseDeleted = payload(envelope)?;
            let applied = store::delete_release(&self.pool, event.release_id, version)
                .await
                .map_err(database_error)?;
            return Ok(applied.then_some(event.release_id));
        }
        if envelope.is::<ReleaseSourcesUpserted>() {
            let event: ReleaseSourcesUpserted = payload(envelope)?;
            let applied = store::upsert_sources(&self.pool, &event, version)
                .await
                .map_err(database_error)?;
            return Ok(applied.then_some(event.release_id));
        }
        if envelope.is::<ReleaseSourcesRemoved>() {
            let event: ReleaseSourcesRemoved = payload(envelope)?;
            let applied =
                store::remove_sources(&self.pool, event.release_id, event.translation_id, version)
                    .await
                    .map_err(database_error)?;
            return Ok(applied.then_some(event.release_id));
        }
        tracing::trace!(event.r#type = %envelope.meta.event_type, "event type not projected");
        Ok(None)
    }
}

impl Handler for CatalogProjector {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let value = record
            .value
            .as_deref()
            .ok_or_else(|| HandlerError::Poison("record has no value".to_owned()))?;
        let envelope: RawEnvelope = serde_json::from_slice(value)
            .map_err(|error| HandlerError::Poison(format!("not an event envelope: {error}")))?;

        if let Some(release_id) = self.apply(&envelope).await? {
            self.cache.release_changed(release_id).await;
        }
        Ok(())
    }
}

fn payload<P: schemas::DomainEvent>(envelope: &RawEnvelope) -> Result<P, HandlerError> {
    envelope.payload_as().map_err(|error| {
        HandlerError::Poison(format!("{} payload: {error}", envelope.meta.event_type))
    })
}

/// Connection trouble is worth waiting for; anything else is a failed attempt.
fn database_error(error: sqlx::Error) -> HandlerError {
    crate::projector::database_error(error)
}
