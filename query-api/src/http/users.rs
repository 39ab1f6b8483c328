//! `/v1/users/*`: public user views. The email address is never part of them.

use chrono::{DateTime, Utc};
use platform::{auth::Principal, http::Problem};
use salvo::{Depot, Request, Response, handler, http::StatusCode, writing::Json};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, database_problem};
use crate::store::users::{self, ProfileRow};

/// A public profile.
#[derive(Serialize, ToSchema)]
pub struct Profile {
    /// The user's id.
    id: Uuid,
    /// Public name.
    username: String,
    /// `user`, `moderator` or `admin`.
    role: String,
    /// When the account was created.
    registered_at: DateTime<Utc>,
    /// Version of the account this view reflects.
    version: i64,
}

impl From<ProfileRow> for Profile {
    fn from(row: ProfileRow) -> Self {
        Self {
            id: row.user_id,
            username: row.username,
            role: row.role,
            registered_at: row.registered_at,
            version: row.version,
        }
    }
}

/// A user's public profile.
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("min_version" = Option<i64>, Query, description = "Wait until the profile reflects at least this account version (read your own write)", minimum = 1),
    ),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 400, description = "Malformed id or min_version", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read model has not caught up with `min_version` yet, or the database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn profile(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let id_text = req.param::<String>("id").unwrap_or_default();
    let user_id = Uuid::parse_str(&id_text)
        .map_err(|_| Problem::invalid_parameter("id", "the user id must be a UUID"))?;
    let min_version = super::min_version(req)?;

    let row = super::read_your_write(
        state.read_your_writes_wait,
        min_version,
        |row: &ProfileRow| row.version,
        || users::profile(&state.pool, user_id),
    )
    .await?
    .ok_or_else(|| Problem::not_found(format!("no user with id {user_id}")))?;
    res.status_code(StatusCode::OK);
    res.render(Json(Profile::from(row)));
    Ok(())
}

/// The caller's own profile, from the access token's subject. The email address is
/// not part of it: the read side never holds it (see docs/security.md).
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = Profile),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The profile is not readable yet (just registered) or the account is gone", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn me(depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    // The router's `require` guard ran first; a missing principal is a wiring bug.
    let principal = Principal::of(depot).ok_or_else(Problem::internal)?;
    let row = users::profile(&state.pool, principal.user_id)
        .await
        .map_err(|error| database_problem(&error))?
        .ok_or_else(|| Problem::not_found("your profile is not readable yet"))?;
    res.render(Json(Profile::from(row)));
    Ok(())
}
