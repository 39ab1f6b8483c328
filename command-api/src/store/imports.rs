//! The `imports` table: one row per catalogue import, the state its `import.updated`
//! events publish.

use chrono::{DateTime, Utc};
use schemas::imports::{ImportCounters, ImportFailure, ImportMode, ImportState, ImportUpdated};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// An import as stored.
#[derive(Debug, Clone)]
pub struct Import {
    /// The import id.
    pub id: Uuid,
    /// Aggregate version.
    pub version: i64,
    /// The upstream.
    pub source: String,
    /// Full or incremental.
    pub mode: ImportMode,
    /// Where it is.
    pub state: ImportState,
    /// Upstream filters.
    pub filters: serde_json::Value,
    /// Incremental lower bound.
    pub since: Option<DateTime<Utc>>,
    /// Counters so far.
    pub counters: ImportCounters,
    /// The most recent failures.
    pub failures: Vec<ImportFailure>,
    /// Why it failed.
    pub error: Option<String>,
    /// Newest upstream update time imported, set when it succeeds.
    pub checkpoint: Option<DateTime<Utc>>,
    /// The admin who asked for it.
    pub requested_by: Option<Uuid>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When crawling started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// How many failures an import keeps in detail.
pub const FAILURES_KEPT: usize = 100;

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::to_value(value).map_err(|error| sqlx::Error::Encode(error.into()))
}

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, sqlx::Error> {
    serde_json::from_value(value).map_err(|error| sqlx::Error::Decode(error.into()))
}

impl Import {
    /// The `import.updated` payload for the current state.
    pub fn snapshot(&self) -> ImportUpdated {
        ImportUpdated {
            import_id: self.id,
            source: self.source.clone(),
            mode: self.mode,
            state: self.state,
            counters: self.counters.clone(),
            failures: self.failures.clone(),
            error: self.error.clone(),
            requested_at: self.requested_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }

    /// Adds failures, keeping the most recent [`FAILURES_KEPT`].
    pub fn record_failures(&mut self, failures: &[ImportFailure]) {
        self.counters.failures += failures.len() as i64;
        self.failures.extend(failures.iter().cloned());
        let excess = self.failures.len().saturating_sub(FAILURES_KEPT);
        self.failures.drain(..excess);
    }
}

/// Inserts a new import.
pub async fn insert(tx: &mut PgConnection, import: &Import) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO imports (id, version, source, mode, state, filters, since, counters, failures, \
             error, checkpoint, requested_by, requested_at, started_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(import.id)
    .bind(import.version)
    .bind(&import.source)
    .bind(to_json(&import.mode)?.as_str().unwrap_or_default().to_owned())
    .bind(to_json(&import.state)?.as_str().unwrap_or_default().to_owned())
    .bind(&import.filters)
    .bind(import.since)
    .bind(to_json(&import.counters)?)
    .bind(to_json(&import.failures)?)
    .bind(&import.error)
    .bind(import.checkpoint)
    .bind(import.requested_by)
    .bind(import.requested_at)
    .bind(import.started_at)
    .bind(import.finished_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Loads an import and locks it for the rest of the transaction.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Import>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT * FROM imports WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx)
        .await?
    else {
        return Ok(None);
    };
    let text = |name: &str| -> Result<serde_json::Value, sqlx::Error> {
        Ok(serde_json::Value::String(row.try_get::<String, _>(name)?))
    };
    Ok(Some(Import {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        source: row.try_get("source")?,
        mode: from_json(text("mode")?)?,
        state: from_json(text("state")?)?,
        filters: row.try_get("filters")?,
        since: row.try_get("since")?,
        counters: from_json(row.try_get("counters")?)?,
        failures: from_json(row.try_get("failures")?)?,
        error: row.try_get("error")?,
        checkpoint: row.try_get("checkpoint")?,
        requested_by: row.try_get("requested_by")?,
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    }))
}

/// Saves every mutable field of an import.
pub async fn save(tx: &mut PgConnection, import: &Import) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE imports SET version = $2, state = $3, counters = $4, failures = $5, error = $6, \
             checkpoint = $7, started_at = $8, finished_at = $9 WHERE id = $1",
    )
    .bind(import.id)
    .bind(import.version)
    .bind(
        to_json(&import.state)?
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
    .bind(to_json(&import.counters)?)
    .bind(to_json(&import.failures)?)
    .bind(&import.error)
    .bind(import.checkpoint)
    .bind(import.started_at)
    .bind(import.finished_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// The checkpoint of the newest successful import from `source`.
pub async fn last_checkpoint(
    tx: &mut PgConnection,
    source: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT checkpoint FROM imports WHERE source = $1 AND state = 'succeeded' \
             AND checkpoint IS NOT NULL ORDER BY finished_at DESC LIMIT 1",
    )
    .bind(source)
    .fetch_optional(tx)
    .await?;
    row.map(|row| row.try_get("checkpoint")).transpose()
}
