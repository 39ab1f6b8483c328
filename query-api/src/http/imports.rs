//! `/v1/imports`: progress of catalogue imports, for administrators.

use chrono::{DateTime, Utc};
use platform::http::Problem;
use salvo::{Depot, Request, Response, handler, writing::Json};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, database_problem};
use crate::store::imports::{self, ImportRow};

/// Progress of one import.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019aeb50-1111-7000-8000-000000000001", "source": "kodik", "mode": "full",
    "state": "running",
    "counters": {"pages": 3, "materials": 300, "releases_created": 120, "releases_updated": 170,
                 "releases_unchanged": 10, "episodes": 3100, "sources": 3100, "failures": 1},
    "failures": [{"material_id": "serial-77", "page": 2, "reason": "material has no usable player link"}],
    "requested_at": "2026-12-04T16:40:00Z", "started_at": "2026-12-04T16:40:01Z", "version": 5
}))]
pub struct ImportView {
    /// The import id.
    id: Uuid,
    /// The upstream.
    source: String,
    /// `full` or `incremental`.
    mode: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    state: String,
    /// `pages`, `materials`, `releases_created`, `releases_updated`,
    /// `releases_unchanged`, `episodes`, `sources`, `failures`.
    #[schema(value_type = Object)]
    counters: serde_json::Value,
    /// The most recent failures (up to 100), each with `material_id`, `page`, `reason`.
    #[schema(value_type = Vec<Object>)]
    failures: serde_json::Value,
    /// Why the whole import failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// When it was requested.
    requested_at: DateTime<Utc>,
    /// When crawling started.
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    /// The import's version.
    version: i64,
}

impl From<ImportRow> for ImportView {
    fn from(row: ImportRow) -> Self {
        Self {
            id: row.import_id,
            source: row.source,
            mode: row.mode,
            state: row.state,
            counters: row.counters,
            failures: row.failures,
            error: row.error,
            requested_at: row.requested_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            version: row.version,
        }
    }
}

/// Recent imports.
#[derive(Serialize, ToSchema)]
pub struct ImportList {
    /// Newest first.
    items: Vec<ImportView>,
}

/// One import's progress.
#[utoipa::path(
    get,
    path = "/v1/imports/{id}",
    tag = "imports",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Import id"),
        ("min_version" = Option<i64>, Query, description = "Wait until the view reflects at least this import version", minimum = 1),
    ),
    responses(
        (status = 200, description = "The import", body = ImportView),
        (status = 400, description = "Malformed id or min_version", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up with `min_version` yet, or the database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn get(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let id_text = req.param::<String>("id").unwrap_or_default();
    let import_id = Uuid::parse_str(&id_text)
        .map_err(|_| Problem::invalid_parameter("id", "the import id must be a UUID"))?;
    let min_version = super::min_version(req)?;

    let row = super::read_your_write(
        state.read_your_writes_wait,
        min_version,
        |row: &ImportRow| row.version,
        || imports::import(&state.pool, import_id),
    )
    .await?
    .ok_or_else(|| Problem::not_found(format!("no import with id {import_id}")))?;
    res.render(Json(ImportView::from(row)));
    Ok(())
}

/// The 50 most recent imports.
#[utoipa::path(
    get,
    path = "/v1/imports",
    tag = "imports",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Recent imports, newest first", body = ImportList),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn list(depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let rows = imports::recent(&state.pool, 50)
        .await
        .map_err(|error| database_problem(&error))?;
    res.render(Json(ImportList {
        items: rows.into_iter().map(ImportView::from).collect(),
    }));
    Ok(())
}
