//! The `indexer` consumer group: keeps the search index of releases in step with the
//! catalogue, and the `reindex` command that rebuilds it.
//!
//! - Consumes: the catalogue events topic (`release.upserted`, `release.deleted`; the
//!   source events change nothing that is searched).
//! - Produces: documents in the index behind the `<prefix>releases` alias; the index
//!   itself is `<prefix>releases-v<N>`, created from `consumers/search/releases.json`
//!   on first start. Records it cannot apply go to `indexer.dlq`.
//! - Guarantees: every write uses external versioning on the release's aggregate
//!   version, so a late or repeated event never regresses a document; a deletion is a
//!   versioned tombstone document for the same reason. With the engine down, records
//!   wait (they are retried without limit) rather than being dead-lettered.

mod document;
mod engine;
pub mod reindex;

use schemas::{
    RawEnvelope,
    releases::{ReleaseDeleted, ReleaseUpserted},
};

use crate::runtime::{Handler, HandlerError, Record};

pub use engine::{Engine, EngineError};

/// The index version a fresh deployment starts with; `reindex` moves past it.
pub const FIRST_INDEX_VERSION: u32 = 1;

/// Applies catalogue events to the search index.
pub struct Indexer {
    engine: Engine,
}

impl Indexer {
    /// An indexer writing through `engine`'s alias, which must exist.
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    async fn write(&self, write: engine::BulkWrite) -> Result<(), HandlerError> {
        let alias = self.engine.alias().to_owned();
        self.engine
            .bulk(&alias, vec![write])
            .await
            .map(drop)
            .map_err(|error| match error {
                EngineError::Unavailable(detail) => HandlerError::Unavailable(detail),
                EngineError::Rejected(detail) => HandlerError::Failed(detail),
            })
    }
}

impl Handler for Indexer {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let value = record
            .value
            .as_deref()
            .ok_or_else(|| HandlerError::Poison("record has no value".to_owned()))?;
        let envelope: RawEnvelope = serde_json::from_slice(value)
            .map_err(|error| HandlerError::Poison(format!("not an event envelope: {error}")))?;
        let version = envelope.meta.aggregate_version;

        if envelope.is::<ReleaseUpserted>() {
            let event: ReleaseUpserted = envelope.payload_as().map_err(|error| {
                HandlerError::Poison(format!("release.upserted payload: {error}"))
            })?;
            let release = document::Release::from_event(&event, envelope.meta.occurred_at);
            tracing::trace!(release.id = %event.release_id, release.version = version, "indexing release");
            return self
                .write(engine::BulkWrite::Index {
                    id: event.release_id.to_string(),
                    version,
                    document: release.to_document(),
                })
                .await;
        }
        if envelope.is::<ReleaseDeleted>() {
            let event: ReleaseDeleted = envelope.payload_as().map_err(|error| {
                HandlerError::Poison(format!("release.deleted payload: {error}"))
            })?;
            return self
                .write(engine::BulkWrite::Index {
                    id: event.release_id.to_string(),
                    version,
                    document: document::tombstone(event.release_id),
                })
                .await;
        }
        Ok(())
    }
}

/// Waits until the alias exists (creating the first index version if needed), then
/// runs the group. The engine may start after this process, so this retries.
pub async fn run(
    engine: Engine,
    kafka: platform::config::KafkaArgs,
    retry: crate::runtime::RetryArgs,
    spec: crate::runtime::GroupSpec,
    handler: std::sync::Arc<Indexer>,
    mut shutdown: platform::shutdown::Shutdown,
) -> anyhow::Result<()> {
    loop {
        match engine.ensure_alias(FIRST_INDEX_VERSION).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(error = %error, "search index not ready, retrying");
            }
        }
        tokio::select! {
            _ = shutdown.requested() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    }
    crate::runtime::run_group(kafka, retry, spec, handler, shutdown).await
}
