//! The `imports` read model.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One import as projected.
#[derive(Debug, sqlx::FromRow)]
pub struct ImportRow {
    pub import_id: Uuid,
    pub source: String,
    pub mode: String,
    pub state: String,
    pub counters: serde_json::Value,
    pub failures: serde_json::Value,
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str = "import_id, source, mode, state, counters, failures, error, requested_at, \
                       started_at, finished_at, version";

/// The import `import_id`, if projected.
pub async fn import(pool: &PgPool, import_id: Uuid) -> Result<Option<ImportRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports WHERE import_id = $1"
    ))
    .bind(import_id)
    .fetch_optional(pool)
    .await
}

/// The newest imports, newest first.
pub async fn recent(pool: &PgPool, limit: i64) -> Result<Vec<ImportRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports ORDER BY requested_at DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
}
