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
//! - Throughput: the records already fetched (up to 200) are applied in one
//!   transaction, keeping only the newest change of each row.

pub mod cache;
mod store;

use schemas::{
    RawEnvelope,
    releases::{ReleaseDeleted, ReleaseSourcesRemoved, ReleaseSourcesUpserted, ReleaseUpserted},
};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::runtime::{Handler, HandlerError, Record};

pub use cache::{CacheArgs, CacheInvalidator};

/// Applies catalogue events to the read model.
pub struct CatalogProjector {
    pool: PgPool,
    cache: CacheInvalidator,
}

/// A decoded catalogue event.
enum Change {
    Upserted(Box<ReleaseUpserted>, i64, DateTime<Utc>),
    Deleted(ReleaseDeleted, i64),
    SourcesUpserted(Box<ReleaseSourcesUpserted>, i64),
    SourcesRemoved(ReleaseSourcesRemoved, i64),
}

impl Change {
    /// Decodes a record; `None` for event types this group does not project.
    fn of(record: &Record) -> Result<Option<Self>, HandlerError> {
        let envelope = record.envelope()?;
        let version = envelope.meta.aggregate_version;
        Ok(Some(if envelope.is::<ReleaseUpserted>() {
            Self::Upserted(
                Box::new(payload(&envelope)?),
                version,
                envelope.meta.occurred_at,
            )
        } else if envelope.is::<ReleaseDeleted>() {
            Self::Deleted(payload(&envelope)?, version)
        } else if envelope.is::<ReleaseSourcesUpserted>() {
            Self::SourcesUpserted(Box::new(payload(&envelope)?), version)
        } else if envelope.is::<ReleaseSourcesRemoved>() {
            Self::SourcesRemoved(payload(&envelope)?, version)
        } else {
            tracing::trace!(event.r#type = %envelope.meta.event_type, "event type not projected");
            return Ok(None);
        }))
    }

    fn release_id(&self) -> Uuid {
        match self {
            Self::Upserted(event, ..) => event.release_id,
            Self::Deleted(event, _) => event.release_id,
            Self::SourcesUpserted(event, _) => event.release_id,
            Self::SourcesRemoved(event, _) => event.release_id,
        }
    }

    fn version(&self) -> i64 {
        match self {
            Self::Upserted(_, version, _)
            | Self::Deleted(_, version)
            | Self::SourcesUpserted(_, version)
            | Self::SourcesRemoved(_, version) => *version,
        }
    }

    /// The row the change writes: the release's, or one translation's sources. Of
    /// several changes to one row, only the newest has an effect.
    fn row(&self) -> (Uuid, Option<i64>) {
        match self {
            Self::Upserted(..) | Self::Deleted(..) => (self.release_id(), None),
            Self::SourcesUpserted(event, _) => (event.release_id, Some(event.translation.id)),
            Self::SourcesRemoved(event, _) => (event.release_id, Some(event.translation_id)),
        }
    }

    /// Applies the change within `connection`'s transaction; true if it was newer than
    /// what the read model held.
    async fn apply(&self, connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
        match self {
            Self::Upserted(event, version, occurred_at) => {
                store::upsert_release(connection, event, *version, *occurred_at).await
            }
            Self::Deleted(event, version) => {
                store::delete_release(connection, event.release_id, *version).await
            }
            Self::SourcesUpserted(event, version) => {
                store::upsert_sources(connection, event, *version).await
            }
            Self::SourcesRemoved(event, version) => {
                store::remove_sources(connection, event.release_id, event.translation_id, *version)
                    .await
            }
        }
    }
}

impl CatalogProjector {
    /// A projector writing to `pool` (whose `search_path` is the read schema) and
    /// invalidating through `cache`.
    pub fn new(pool: PgPool, cache: CacheInvalidator) -> Self {
        Self { pool, cache }
    }

    /// Applies `changes` in one transaction, then drops the cache entries of the
    /// releases that changed.
    async fn apply(&self, changes: &[Change]) -> Result<(), HandlerError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut changed = Vec::new();
        let mut transaction = self.pool.begin().await.map_err(database_error)?;
        for change in changes {
            if change
                .apply(&mut transaction)
                .await
                .map_err(database_error)?
            {
                changed.push(change.release_id());
            }
        }
        transaction.commit().await.map_err(database_error)?;
        changed.sort_unstable();
        changed.dedup();
        self.cache.releases_changed(&changed).await;
        Ok(())
    }
}

/// Records the projector takes at once: one transaction each.
const MAX_BATCH: usize = 200;

impl Handler for CatalogProjector {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let changes: Vec<Change> = Change::of(record)?.into_iter().collect();
        self.apply(&changes).await
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn handle_batch(&self, records: &[Record]) -> Result<(), HandlerError> {
        let mut changes = Vec::with_capacity(records.len());
        for record in records {
            changes.extend(Change::of(record)?);
        }
        // Keep, per row, only the newest change, where that change came.
        let mut newest: HashMap<(Uuid, Option<i64>), i64> = HashMap::new();
        for change in &changes {
            let version = newest.entry(change.row()).or_insert(change.version());
            *version = (*version).max(change.version());
        }
        changes.retain(|change| newest.get(&change.row()) == Some(&change.version()));
        self.apply(&changes).await
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
