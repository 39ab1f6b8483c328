//! `/v1/admin/audit`: the audit trail, for administrators.

use chrono::{DateTime, Utc};
use platform::http::Problem;
use salvo::{Depot, Request, Response, handler, writing::Json};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, database_problem};
use crate::store::audit::{self, AuditFilter, AuditRow};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;
const FILTER_MAX_CHARS: usize = 200;

/// One privileged command.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    /// The entry's id.
    id: Uuid,
    /// Who did it; absent for the platform itself.
    actor_id: Option<Uuid>,
    /// The actor's role at the time.
    actor_role: Option<String>,
    /// The command, e.g. `user.change_role`.
    action: String,
    /// What it was done to, `<type>:<id>`.
    target: String,
    /// The request id of the command.
    request_id: String,
    /// When it was done.
    recorded_at: DateTime<Utc>,
    /// Command-specific facts.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.audit_id,
            actor_id: row.actor_id,
            actor_role: row.actor_role,
            action: row.action,
            target: row.target,
            request_id: row.request_id,
            recorded_at: row.recorded_at,
            details: row.details,
        }
    }
}

/// A page of entries.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<Uuid>,
}

/// The parameter `name` parsed as `T`, if present; `Err(name)` when it is malformed
/// or longer than any valid value.
fn query_param<T: std::str::FromStr>(
    req: &Request,
    name: &'static str,
) -> Result<Option<T>, &'static str> {
    match req.query::<String>(name) {
        None => Ok(None),
        Some(text) if text.chars().count() > FILTER_MAX_CHARS => Err(name),
        Some(text) => text.parse().map(Some).map_err(|_| name),
    }
}

/// The time parameter `name`, if present: RFC 3339 with a four-digit year, as the
/// standard has it (the parser would also take signed and longer years, which the
/// database cannot store).
fn time_param(req: &Request, name: &'static str) -> Result<Option<DateTime<Utc>>, &'static str> {
    let time = query_param::<DateTime<Utc>>(req, name)?;
    match time {
        Some(time) if !(0..=9999).contains(&chrono::Datelike::year(&time)) => Err(name),
        time => Ok(time),
    }
}

fn invalid(name: &'static str) -> Problem {
    Problem::invalid_parameter(name, format!("{name} is malformed or too long"))
}

/// The audit trail, newest first, with filters and keyset pagination.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("actor" = Option<Uuid>, Query, description = "Only entries by this user"),
        ("action" = Option<String>, Query, description = "Only this command, e.g. `user.change_role`"),
        ("target" = Option<String>, Query, description = "Only this target, e.g. `user:<id>`"),
        ("from" = Option<DateTime<Utc>>, Query, description = "Recorded at or after (RFC 3339)"),
        ("to" = Option<DateTime<Utc>>, Query, description = "Recorded before (RFC 3339)"),
        ("cursor" = Option<Uuid>, Query, description = "`next_cursor` of the previous page"),
        ("limit" = Option<i64>, Query, description = "Entries per page, 1 to 200 (default 50)"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "A malformed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let filter = AuditFilter {
        actor_id: query_param(req, "actor").map_err(invalid)?,
        action: query_param(req, "action").map_err(invalid)?,
        target: query_param(req, "target").map_err(invalid)?,
        from: time_param(req, "from").map_err(invalid)?,
        to: time_param(req, "to").map_err(invalid)?,
        before: query_param(req, "cursor").map_err(invalid)?,
    };
    let limit = query_param::<i64>(req, "limit")
        .map_err(invalid)?
        .unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::invalid_parameter(
            "limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }

    // One row more than the page says whether there is a next one.
    let mut rows = audit::list(&state.pool, &filter, limit + 1)
        .await
        .map_err(|error| database_problem(&error))?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = rows.last().filter(|_| more).map(|row| row.audit_id);
    res.render(Json(AuditPage {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }));
    Ok(())
}
