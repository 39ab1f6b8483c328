//! The `users` table.

use chrono::{DateTime, Utc};
use schemas::accounts::Role;
use sqlx::PgConnection;
use uuid::Uuid;

/// A user as first saved.
pub struct NewUser<'a> {
    /// The new id.
    pub id: Uuid,
    /// Normalised email.
    pub email: &'a str,
    /// Username as chosen.
    pub username: &'a str,
    /// Argon2id PHC string.
    pub password_hash: &'a str,
    /// Starting role.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Why a user could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveUserError {
    /// Another account has this email (compared without case).
    #[error("email already registered")]
    EmailTaken,
    /// Another account has this username (compared without case).
    #[error("username already taken")]
    UsernameTaken,
    /// The database failed.
    #[error("saving a user")]
    Database(#[source] sqlx::Error),
}

/// The name of a role in the `role` column.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Moderator => "moderator",
        Role::Admin => "admin",
    }
}

/// Inserts a user at version 1.
pub async fn insert(tx: &mut PgConnection, user: &NewUser<'_>) -> Result<(), SaveUserError> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, username, password_hash, role, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
    )
    .bind(user.id)
    .bind(user.email)
    .bind(user.username)
    .bind(user.password_hash)
    .bind(role_name(user.role))
    .bind(user.created_at)
    .execute(tx)
    .await;

    match inserted {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("users_email_key") => {
            Err(SaveUserError::EmailTaken)
        }
        Err(sqlx::Error::Database(error)) if error.constraint() == Some("users_username_key") => {
            Err(SaveUserError::UsernameTaken)
        }
        Err(error) => Err(SaveUserError::Database(error)),
    }
}
