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
///
/// A taken email or username is not left to the unique indexes to refuse: PostgreSQL
/// would write the refused key, an email address, into its own log. The insert
/// skips a conflicting row instead (concurrent registrations of one address wait
/// for each other and the later one inserts nothing), and a lookup says which one
/// is taken.
pub async fn insert(tx: &mut PgConnection, user: &NewUser<'_>) -> Result<(), SaveUserError> {
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, username, password_hash, role, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(user.id)
    .bind(user.email)
    .bind(user.username)
    .bind(user.password_hash)
    .bind(role_name(user.role))
    .bind(user.created_at)
    .execute(&mut *tx)
    .await
    .map_err(SaveUserError::Database)?;
    if inserted.rows_affected() == 1 {
        return Ok(());
    }
    let email_taken: Option<bool> = sqlx::query_scalar(
        "SELECT bool_or(lower(email) = lower($1)) FROM users \
         WHERE lower(email) = lower($1) OR lower(username) = lower($2)",
    )
    .bind(user.email)
    .bind(user.username)
    .fetch_one(tx)
    .await
    .map_err(SaveUserError::Database)?;
    Err(match email_taken {
        Some(true) => SaveUserError::EmailTaken,
        _ => SaveUserError::UsernameTaken,
    })
}

/// What sign-in needs of a user.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    /// The user's id.
    pub id: Uuid,
    /// The username.
    pub username: String,
    /// The normalised email.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `user`, `moderator` or `admin`.
    pub role: String,
    /// The aggregate version.
    pub version: i64,
}

/// The user whose email or username is `login` (without regard to case). A username
/// cannot contain `@`, so the two never collide.
pub async fn find_by_login(
    conn: &mut PgConnection,
    login: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    // The key is already lower-case: comparing it with `lower()` of the columns, not
    // of itself, means a spelling reaches an account only through the key the rate
    // limit counts (see `login_key`).
    sqlx::query_as(
        "SELECT id, username, email, password_hash, role, version FROM users \
         WHERE lower(email) = $1 OR lower(username) = $1",
    )
    .bind(platform::auth::login_key(login))
    .fetch_optional(conn)
    .await
}

/// The user with `id`, without a lock.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, username, email, password_hash, role, version FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The user with `id`, locked for the rest of the transaction.
pub async fn find_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, username, email, password_hash, role, version FROM users \
         WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Locks every administrator's row, in id order, and returns their ids.
pub async fn lock_admins(conn: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
        .fetch_all(conn)
        .await
}

/// The role stored for `id` now (`None` for no such user), without a lock.
pub async fn role_of(pool: &sqlx::PgPool, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The role stored for `id`, its row locked against changes for the rest of the
/// transaction.
pub async fn role_for_share(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM users WHERE id = $1 FOR SHARE")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Raises the version by one for a change that has no other column (revoked
/// sessions), optionally replacing the password hash; returns the new version.
pub async fn bump_version(
    tx: &mut PgConnection,
    id: Uuid,
    new_password_hash: Option<&str>,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET version = version + 1, updated_at = $3, \
             password_hash = coalesce($2, password_hash) \
         WHERE id = $1 RETURNING version",
    )
    .bind(id)
    .bind(new_password_hash)
    .bind(at)
    .fetch_one(tx)
    .await
}

/// Sets the role if the version is still `expected_version`; the new version, or
/// `None` when the version moved on.
pub async fn change_role(
    tx: &mut PgConnection,
    id: Uuid,
    role: Role,
    expected_version: i64,
    at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET role = $2, version = version + 1, updated_at = $4 \
         WHERE id = $1 AND version = $3 RETURNING version",
    )
    .bind(id)
    .bind(role_name(role))
    .bind(expected_version)
    .bind(at)
    .fetch_optional(tx)
    .await
}

/// True when at least one administrator exists.
pub async fn admin_exists(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')")
        .fetch_one(conn)
        .await
}
