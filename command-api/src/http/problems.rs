//! The mapping from command errors to problem documents. Causes are logged here, once,
//! and never sent to the client.

use platform::http::Problem;
use salvo::http::StatusCode;

use crate::commands::{
    accounts::RegisterError, imports::ImportError, releases::ReleaseError, roles::ChangeRoleError,
    sessions::SessionError,
};

fn validation_problem(errors: Vec<platform::http::FieldError>) -> Problem {
    let mut problem = Problem::validation().detail("some fields break a rule; see errors");
    problem.errors = errors;
    problem
}

impl From<SessionError> for Problem {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
            )
            .detail("the login or the password is wrong"),
            SessionError::InvalidRefreshToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-refresh-token",
                "Invalid refresh token",
            )
            .detail(
                "the refresh token is unknown, expired, revoked or already used; sign in again",
            ),
            SessionError::Invalid(errors) => validation_problem(errors),
            SessionError::AccountGone(user_id) => {
                tracing::warn!(user.id = %user_id, "a valid access token names an account that does not exist");
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid-token",
                    "Invalid access token",
                )
                .detail("the account this access token was issued to no longer exists")
                .header(
                    salvo::http::header::WWW_AUTHENTICATE,
                    "Bearer error=\"invalid_token\"",
                )
            }
            SessionError::UnusableAccount(user_id) => {
                tracing::error!(user.id = %user_id, "account of a valid session has an unknown role");
                Problem::internal()
            }
            SessionError::Hashing => {
                tracing::error!("password hashing failed");
                Problem::internal()
            }
            SessionError::Signing => {
                tracing::error!("signing an access token failed");
                Problem::internal()
            }
            SessionError::Database(error) => database_problem(&error),
        }
    }
}

impl From<ChangeRoleError> for Problem {
    fn from(error: ChangeRoleError) -> Self {
        match error {
            ChangeRoleError::NotFound(user_id) => {
                Problem::not_found(format!("no user with id {user_id}"))
            }
            ChangeRoleError::VersionConflict { current } => Problem::new(
                StatusCode::CONFLICT,
                "version-conflict",
                "Version conflict",
            )
            .detail(format!(
                "the user is at version {current}; read it again and retry with that version"
            )),
            ChangeRoleError::NotAdmin(_) => platform::auth::forbidden(),
            ChangeRoleError::LastAdmin(_) => {
                Problem::new(StatusCode::CONFLICT, "last-admin", "Last administrator").detail(
                    "this user is the only administrator; make another user an administrator first",
                )
            }
            ChangeRoleError::UnknownRole(user_id) => {
                tracing::error!(user.id = %user_id, "stored role is unknown");
                Problem::internal()
            }
            ChangeRoleError::Database(error) => database_problem(&error),
        }
    }
}

impl From<ImportError> for Problem {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Invalid(detail) => Problem::validation().detail(detail),
            ImportError::NotFound => Problem::not_found("no import with this id"),
            ImportError::AlreadyFinished => Problem::new(
                StatusCode::CONFLICT,
                "import-finished",
                "Import already finished",
            )
            .detail("the import already ended and cannot be cancelled"),
            ImportError::Database(error) => database_problem(&error),
        }
    }
}

impl From<ReleaseError> for Problem {
    fn from(error: ReleaseError) -> Self {
        match error {
            ReleaseError::Invalid(detail) => Problem::validation().detail(detail),
            ReleaseError::NotFound => Problem::not_found("no release with this id"),
            ReleaseError::NoSuchPart(detail) => Problem::not_found(detail),
            ReleaseError::Stale { expected, current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "Release changed",
            )
            .detail(format!(
                "the release is at version {current}, not {expected}; reload it and retry"
            )),
            ReleaseError::Database(error) => database_problem(&error),
        }
    }
}

impl From<RegisterError> for Problem {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(errors) => validation_problem(errors),
            RegisterError::EmailTaken => Problem::new(
                StatusCode::CONFLICT,
                "email-taken",
                "Email already registered",
            )
            .detail("an account with this email address already exists"),
            RegisterError::UsernameTaken => Problem::new(
                StatusCode::CONFLICT,
                "username-taken",
                "Username already taken",
            )
            .detail("an account with this username already exists"),
            RegisterError::Hashing => {
                tracing::error!("password hashing failed");
                Problem::internal()
            }
            RegisterError::Database(error) => database_problem(&error),
        }
    }
}

/// A database failure: 503 when the database is unreachable (the client may retry),
/// 500 otherwise.
pub(super) fn database_problem(error: &sqlx::Error) -> Problem {
    match error {
        error if platform::db::is_unavailable(error) => {
            tracing::warn!(error = %error, "database unavailable");
            Problem::unavailable("the database is unavailable; retry shortly")
        }
        error => {
            tracing::error!(error = ?error, "database error");
            Problem::internal()
        }
    }
}
