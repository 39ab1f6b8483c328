//! `/v1/auth/*`: account commands.

use platform::http::{Problem, RequestId, read_json_body};
use salvo::{Depot, Request, Response, handler, http::StatusCode, writing::Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::commands::accounts::{self, Register};

/// A registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "hikari@example.org", "username": "hikari", "password": "velvet kettle orbit marmalade"}))]
pub struct RegisterRequest {
    /// Email address; unique without regard to case; never shown publicly.
    email: String,
    /// Public name, 3 to 32 letters, digits, `_`, `-` or `.`; unique without regard to case.
    username: String,
    /// 10 to 256 characters (after Unicode NFC normalisation), hard to guess (zxcvbn
    /// score of at least 3 by default), without the username or the email's local part.
    password: String,
}

/// The created account.
#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    /// The new user's id.
    user_id: Uuid,
    /// The username as saved.
    username: String,
    /// The account's version; pass it as `min_version` to the query API to read your write.
    version: i64,
}

/// Registers an account.
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisterResponse),
        (status = 400, description = "Body is not JSON of the expected shape", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email or username already registered", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field breaks a rule", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`: too many registrations from this client or for this email", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or the rate limiter is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn register(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = depot
        .get_typed::<AppState>()
        .map_err(|_| Problem::internal())?
        .clone();
    let body: RegisterRequest = read_json_body(req, state.max_body_bytes).await?;
    state
        .rate_limiter
        .auth_by_account(res, "register", &body.email)
        .await?;
    let command = Register {
        email: body.email,
        username: body.username,
        password: body.password,
        correlation_id: RequestId::of(depot),
    };

    let registered = accounts::register(&state.commands, command).await?;

    res.status_code(StatusCode::CREATED);
    res.render(Json(RegisterResponse {
        user_id: registered.user_id,
        username: registered.username,
        version: registered.version,
    }));
    Ok(())
}
