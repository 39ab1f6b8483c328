//! `/v1/users/*`: administration of accounts.

use platform::{
    auth::{Principal, Role},
    http::{Problem, RequestId, read_json_body},
};
use salvo::{Depot, Request, Response, handler, writing::Json};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, sessions::VersionResponse};
use crate::{
    audit::AuditContext,
    commands::roles::{self, ChangeRole},
};

/// A role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "moderator", "expected_version": 3}))]
pub struct ChangeRoleRequest {
    /// `user`, `moderator` or `admin`.
    #[schema(value_type = String)]
    role: Role,
    /// The user's version as last read; the change is refused (409) if it moved on.
    expected_version: i64,
}

/// Sets a user's role. Administrators only; audited.
#[utoipa::path(
    put,
    path = "/v1/users/{id}/role",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = ChangeRoleRequest,
    responses(
        (status = 200, description = "Role changed", body = VersionResponse),
        (status = 400, description = "Malformed id or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`version-conflict`: the user changed since `expected_version`; `last-admin`: the change would leave no administrator", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn change_role(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let principal = Principal::of(depot).ok_or_else(Problem::internal)?;
    let id_text = req.param::<String>("id").unwrap_or_default();
    let user_id = Uuid::parse_str(&id_text)
        .map_err(|_| Problem::invalid_parameter("id", "the user id must be a UUID"))?;
    let body: ChangeRoleRequest = read_json_body(req, state.max_body_bytes).await?;

    let context = AuditContext {
        actor: Some(principal),
        request_id: RequestId::of(depot),
    };
    let command = ChangeRole {
        user_id,
        role: body.role,
        expected_version: body.expected_version,
    };
    let version = roles::change_role(&state.commands, &context, command).await?;
    res.render(Json(VersionResponse { version }));
    Ok(())
}
