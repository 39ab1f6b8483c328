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
//! - Throughput: the records already fetched (up to 500) go in one bulk request,
//!   with only the newest version of each document.

mod document;
mod engine;
pub mod reindex;

use std::collections::{HashMap, hash_map::Entry};

use schemas::releases::{ReleaseDeleted, ReleaseUpserted};

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

    async fn write(&self, writes: Vec<engine::BulkWrite>) -> Result<(), HandlerError> {
        let alias = self.engine.alias().to_owned();
        self.engine
            .bulk(&alias, writes)
            .await
            .map(drop)
            .map_err(|error| match error {
                EngineError::Unavailable(detail) => HandlerError::Unavailable(detail),
                EngineError::Rejected(detail) => HandlerError::Failed(detail),
            })
    }
}

/// The index write one record asks for, if any.
fn write_of(record: &Record) -> Result<Option<engine::BulkWrite>, HandlerError> {
    let envelope = record.envelope()?;
    let version = envelope.meta.aggregate_version;

    if envelope.is::<ReleaseUpserted>() {
        let event: ReleaseUpserted = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("release.upserted payload: {error}")))?;
        let release = document::Release::from_event(&event, envelope.meta.occurred_at);
        tracing::trace!(release.id = %event.release_id, release.version = version, "indexing release");
        return Ok(Some(engine::BulkWrite::Index {
            id: event.release_id.to_string(),
            version,
            document: release.to_document(),
        }));
    }
    if envelope.is::<ReleaseDeleted>() {
        let event: ReleaseDeleted = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("release.deleted payload: {error}")))?;
        return Ok(Some(engine::BulkWrite::Index {
            id: event.release_id.to_string(),
            version,
            document: document::tombstone(event.release_id),
        }));
    }
    Ok(None)
}

/// Records the indexer takes at once: one bulk request each.
const MAX_BATCH: usize = 500;

impl Handler for Indexer {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        match write_of(record)? {
            Some(write) => self.write(vec![write]).await,
            None => Ok(()),
        }
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn handle_batch(&self, records: &[Record]) -> Result<(), HandlerError> {
        // Only the newest version of each document matters: the engine would refuse
        // the older ones anyway.
        let mut newest: HashMap<String, engine::BulkWrite> = HashMap::new();
        for record in records {
            let Some(write) = write_of(record)? else {
                continue;
            };
            match newest.entry(write.id().to_owned()) {
                Entry::Occupied(mut slot) if slot.get().version() < write.version() => {
                    slot.insert(write);
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(write);
                }
            }
        }
        self.write(newest.into_values().collect()).await
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
