//! `/v1/auth/*` after registration: login, refresh, logout, password change.
//!
//! Handlers only parse and hand over: credentials are verified in
//! [`crate::commands::sessions`].

use platform::{
    auth::Principal,
    http::{Problem, RequestId, read_json_body},
};
use salvo::{Depot, Request, Response, handler, http::StatusCode, writing::Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::commands::sessions::{self, ChangePassword, Login, Session};

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"login": "hikari", "password": "velvet kettle orbit marmalade"}))]
pub struct LoginRequest {
    /// Email address or username.
    login: String,
    /// The password.
    password: String,
}

/// A refresh token to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    refresh_token: String,
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now.
    current_password: String,
    /// The new password: 10 to 256 characters, hard to guess, without the username or
    /// the email address.
    new_password: String,
}

/// A session's tokens.
#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// Opaque; exchange it at `/v1/auth/refresh` for a new pair. Usable once.
    refresh_token: String,
    /// Seconds until the refresh token expires.
    refresh_expires_in: u64,
    /// The signed-in user.
    user_id: Uuid,
    /// Their role.
    role: String,
}

impl From<Session> for SessionResponse {
    fn from(session: Session) -> Self {
        Self {
            access_token: session.access.token,
            token_type: "Bearer",
            expires_in: session.access.expires_in,
            refresh_token: session.refresh_token,
            refresh_expires_in: session.refresh_expires_in,
            user_id: session.user_id,
            role: serde_json::to_value(session.role)
                .ok()
                .and_then(|role| role.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// The account's version after a change.
#[derive(Serialize, ToSchema)]
pub struct VersionResponse {
    /// Pass it as `min_version` to the query API to read your write.
    pub version: i64,
}

fn state_of(depot: &Depot) -> Option<AppState> {
    depot.get_typed::<AppState>().ok().cloned()
}

/// The caller; the router's `require` guard ran first, so `None` is a wiring bug.
fn principal_of(depot: &Depot) -> Option<Principal> {
    Principal::of(depot)
}

/// Signs in with an email or username and a password.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 400, description = "Body is not JSON of the expected shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid-credentials`: unknown account or wrong password (which one is not said)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is empty or too long", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`: too many attempts from this client or for this account", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or the rate limiter is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn login(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state_of(depot).ok_or_else(Problem::internal)?;
    let body: LoginRequest = read_json_body(req, state.max_body_bytes).await?;
    state
        .rate_limiter
        .auth_by_account(res, "login", &body.login)
        .await?;
    let command = Login {
        login: body.login,
        password: body.password,
        correlation_id: RequestId::of(depot),
    };
    let session = sessions::login(&state.commands, command).await?;
    res.render(Json(SessionResponse::from(session)));
    Ok(())
}

/// Exchanges a refresh token for a new access token and refresh token.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "accounts",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = SessionResponse),
        (status = 400, description = "Body is not JSON of the expected shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid-refresh-token`: unknown, expired, revoked or already used (reuse revokes the whole session)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or the rate limiter is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn refresh(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state_of(depot).ok_or_else(Problem::internal)?;
    let body: RefreshRequest = read_json_body(req, state.max_body_bytes).await?;
    state
        .rate_limiter
        .auth_by_account(res, "refresh", &body.refresh_token)
        .await?;
    let session =
        sessions::refresh(&state.commands, &body.refresh_token, RequestId::of(depot)).await?;
    res.render(Json(SessionResponse::from(session)));
    Ok(())
}

/// Ends the current session: its refresh token stops working. The access token
/// stays valid until it expires (at most 15 minutes by default).
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`: the general per-client limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn logout(depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = state_of(depot).ok_or_else(Problem::internal)?;
    let principal = principal_of(depot).ok_or_else(Problem::internal)?;
    sessions::logout(&state.commands, principal).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// Ends every session of the caller.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every session revoked", body = VersionResponse),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`: the general per-client limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn logout_all(depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = state_of(depot).ok_or_else(Problem::internal)?;
    let principal = principal_of(depot).ok_or_else(Problem::internal)?;
    let version = sessions::logout_all(&state.commands, principal, RequestId::of(depot)).await?;
    res.render(Json(VersionResponse { version }));
    Ok(())
}

/// Changes the caller's password; every session is revoked, so sign in again.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed, every session revoked", body = VersionResponse),
        (status = 400, description = "Body is not JSON of the expected shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token, or `invalid-credentials`: the current password is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks a rule or equals the current one; see `errors`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate-limited`: too many attempts from this client or for this account (the sign-in limits: the current password is checked here too)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn change_password(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state_of(depot).ok_or_else(Problem::internal)?;
    let principal = principal_of(depot).ok_or_else(Problem::internal)?;
    let body: ChangePasswordRequest = read_json_body(req, state.max_body_bytes).await?;
    // Checking the current password is a sign-in attempt: without the sign-in
    // limits, a stolen access token would allow guessing the password much faster.
    state
        .rate_limiter
        .auth_by_account(res, "password", &principal.user_id.to_string())
        .await?;
    let command = ChangePassword {
        current_password: body.current_password,
        new_password: body.new_password,
        correlation_id: RequestId::of(depot),
    };
    let version = sessions::change_password(&state.commands, principal, command).await?;
    res.render(Json(VersionResponse { version }));
    Ok(())
}
