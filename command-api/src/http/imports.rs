//! `/v1/imports`: catalogue imports, for administrators.

#![expect(
    clippy::result_large_err,
    reason = "Problem is the single error shape of the API, built only on the error path"
)]

use std::collections::BTreeMap;

use platform::{
    auth::Principal,
    http::{Problem, RequestId, read_json_body},
};
use salvo::{
    Depot, Request, Response, handler,
    http::{StatusCode, header},
    writing::Json,
};
use schemas::imports::{ImportMode, ImportState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::{
    audit::AuditContext,
    commands::imports::{self, RequestImport},
    store::imports::Import,
};

/// An import request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"source": "kodik", "mode": "full", "filters": {"types": "anime-serial"}}))]
pub struct ImportRequest {
    /// The upstream; only `kodik`.
    source: String,
    /// `full` crawls everything; `incremental` only what changed since the last
    /// successful import's checkpoint (everything when there is none).
    #[schema(value_type = String, example = "full")]
    mode: ImportMode,
    /// Upstream filters passed on as they are: `types`, `year`, `translation_id`,
    /// `translation_type`, `anime_kind`, `anime_status`, `genres`, ...
    #[serde(default)]
    filters: BTreeMap<String, String>,
}

/// An accepted import.
#[derive(Serialize, ToSchema)]
pub struct ImportAccepted {
    /// The import id; follow it at `GET /v1/imports/{id}` on the query API.
    import_id: Uuid,
    /// `queued`, or `cancelled` after a cancellation.
    #[schema(value_type = String)]
    state: ImportState,
    /// The import's version; pass it as `min_version` to the query API.
    version: i64,
}

impl From<Import> for ImportAccepted {
    fn from(import: Import) -> Self {
        Self {
            import_id: import.id,
            state: import.state,
            version: import.version,
        }
    }
}

fn audit_context(depot: &Depot) -> Result<AuditContext, Problem> {
    let principal = Principal::of(depot).ok_or_else(Problem::internal)?;
    Ok(AuditContext {
        actor: Some(principal),
        request_id: RequestId::of(depot),
    })
}

/// Starts a catalogue import.
#[utoipa::path(
    post,
    path = "/v1/imports",
    tag = "imports",
    security(("bearer" = [])),
    request_body = ImportRequest,
    responses(
        (status = 202, description = "Import queued; the parser picks it up", body = ImportAccepted, headers(
            ("Location" = String, description = "The import's progress on the query API, when `QUERY_API_PUBLIC_URL` is set"),
        )),
        (status = 400, description = "Body is not JSON of the expected shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown source or filter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn request_import(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let context = audit_context(depot)?;
    let body: ImportRequest = read_json_body(req, state.max_body_bytes).await?;
    let request = RequestImport {
        source: body.source,
        mode: body.mode,
        filters: body.filters,
    };

    let import = imports::request_import(&state.commands, &context, request).await?;

    if let Some(location) = state.query_api_location(&format!("/v1/imports/{}", import.id)) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res.status_code(StatusCode::ACCEPTED);
    res.render(Json(ImportAccepted::from(import)));
    Ok(())
}

/// Cancels a queued or running import; the parser stops before its next page.
#[utoipa::path(
    post,
    path = "/v1/imports/{id}/cancel",
    tag = "imports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "Import cancelled", body = ImportAccepted),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`import-finished`: the import already ended", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn cancel_import(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let context = audit_context(depot)?;
    let id_text = req.param::<String>("id").unwrap_or_default();
    let import_id = Uuid::parse_str(&id_text)
        .map_err(|_| Problem::invalid_parameter("id", "the import id must be a UUID"))?;

    let import = imports::cancel_import(&state.commands, &context, import_id).await?;

    res.render(Json(ImportAccepted::from(import)));
    Ok(())
}
