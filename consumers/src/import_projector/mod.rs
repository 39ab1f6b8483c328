//! The `import-projector` consumer group: keeps `read.imports`, the progress of
//! catalogue imports that `GET /v1/imports/{id}` serves and that the parser checks
//! for cancellation.
//!
//! - Consumes: the import events topic (`import.updated`; other types are skipped).
//! - Produces: one row per import in `read.imports`.
//! - Guarantees: a row keeps the import's aggregate version and only a newer
//!   `import.updated` replaces it, so redelivered or late events change nothing.

use schemas::imports::ImportUpdated;
use sqlx::PgPool;

use crate::runtime::{Handler, HandlerError, Record};

/// Applies import events to the read model.
pub struct ImportProjector {
    pool: PgPool,
}

impl ImportProjector {
    /// A projector writing to `pool` (whose `search_path` is the read schema).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn text_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Handler for ImportProjector {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let envelope = record.envelope()?;
        if !envelope.is::<ImportUpdated>() {
            return Ok(());
        }
        let import: ImportUpdated = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("import.updated payload: {error}")))?;
        let counters = serde_json::to_value(&import.counters)
            .map_err(|error| HandlerError::Poison(error.to_string()))?;
        let failures = serde_json::to_value(&import.failures)
            .map_err(|error| HandlerError::Poison(error.to_string()))?;

        sqlx::query(
            "INSERT INTO imports (import_id, source, mode, state, counters, failures, error, \
                 requested_at, started_at, finished_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (import_id) DO UPDATE SET state = EXCLUDED.state, \
                 counters = EXCLUDED.counters, failures = EXCLUDED.failures, \
                 error = EXCLUDED.error, started_at = EXCLUDED.started_at, \
                 finished_at = EXCLUDED.finished_at, version = EXCLUDED.version \
             WHERE imports.version < EXCLUDED.version",
        )
        .bind(import.import_id)
        .bind(&import.source)
        .bind(text_of(&import.mode))
        .bind(text_of(&import.state))
        .bind(counters)
        .bind(failures)
        .bind(&import.error)
        .bind(import.requested_at)
        .bind(import.started_at)
        .bind(import.finished_at)
        .bind(envelope.meta.aggregate_version)
        .execute(&self.pool)
        .await
        .map_err(crate::projector::database_error)?;
        Ok(())
    }
}
