//! The mapping from command errors to problem documents. Causes are logged here, once,
//! and never sent to the client.

use platform::http::Problem;
use salvo::http::StatusCode;

use crate::commands::accounts::RegisterError;

impl From<RegisterError> for Problem {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(errors) => {
                let mut problem =
                    Problem::validation().detail("some fields break a rule; see errors");
                problem.errors = errors;
                problem
            }
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
fn database_problem(error: &sqlx::Error) -> Problem {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            tracing::warn!(error = %error, "database unavailable");
            Problem::unavailable("the database is unavailable; retry shortly")
        }
        error => {
            tracing::error!(error = ?error, "database error");
            Problem::internal()
        }
    }
}
