//! Account commands.

use chrono::Utc;
use platform::http::FieldError;
use schemas::{
    Actor, Envelope,
    accounts::{Role, UserRegistered},
};
use uuid::Uuid;

use super::CommandContext;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    domain::accounts::Registration,
    outbox,
    store::accounts::{self as users, NewUser, SaveUserError},
};

/// `register`: create an account.
pub struct Register {
    /// Email as typed.
    pub email: String,
    /// Username as typed.
    pub username: String,
    /// Password as typed.
    pub password: String,
    /// Correlation id of the request.
    pub correlation_id: String,
}

/// The outcome of a registration.
#[derive(Debug)]
pub struct Registered {
    /// The new user's id.
    pub user_id: Uuid,
    /// The username as saved.
    pub username: String,
    /// The aggregate version after the command.
    pub version: i64,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// One or more fields break a rule.
    #[error("registration fields are invalid")]
    Invalid(Vec<FieldError>),
    /// The email belongs to another account.
    #[error("email already registered")]
    EmailTaken,
    /// The username belongs to another account.
    #[error("username already taken")]
    UsernameTaken,
    /// Hashing the password failed.
    #[error("hashing a password")]
    Hashing,
    /// The database failed.
    #[error("saving a registration")]
    Database(#[source] sqlx::Error),
}

/// Validates, hashes the password, and saves the user with its `user.registered`
/// event in one transaction.
pub async fn register(
    ctx: &CommandContext,
    command: Register,
) -> Result<Registered, RegisterError> {
    let registration = Registration::validate(
        &command.email,
        &command.username,
        &command.password,
        &ctx.password_policy,
    )
    .map_err(RegisterError::Invalid)?;
    save_new_user(ctx, registration, Role::User, command.correlation_id).await
}

/// Creates the first administrator (from the `create-admin` subcommand or the
/// bootstrap settings), with an audit entry whose actor is the platform itself.
pub async fn create_admin(
    ctx: &CommandContext,
    email: &str,
    username: &str,
    password: &str,
) -> Result<Registered, RegisterError> {
    let registration = Registration::validate(email, username, password, &ctx.password_policy)
        .map_err(RegisterError::Invalid)?;
    let correlation_id = Uuid::now_v7().to_string();
    save_new_user(ctx, registration, Role::Admin, correlation_id).await
}

/// True when an administrator exists already.
pub async fn admin_exists(ctx: &CommandContext) -> Result<bool, RegisterError> {
    let mut conn = ctx.pool.acquire().await.map_err(RegisterError::Database)?;
    users::admin_exists(&mut conn)
        .await
        .map_err(RegisterError::Database)
}

async fn save_new_user(
    ctx: &CommandContext,
    registration: Registration,
    role: Role,
    correlation_id: String,
) -> Result<Registered, RegisterError> {
    let password = registration.password.clone();
    let password_hash = ctx
        .hashing(move |hasher| hasher.hash(&password))
        .await
        .map_err(|_| RegisterError::Hashing)?
        .map_err(|_| RegisterError::Hashing)?;

    let user_id = Uuid::now_v7();
    let now = Utc::now();
    let user = NewUser {
        id: user_id,
        email: &registration.email,
        username: &registration.username,
        password_hash: &password_hash,
        role,
        created_at: now,
    };
    let event = Envelope::new(
        user_id.to_string(),
        1,
        correlation_id.clone(),
        Actor::User { id: user_id },
        UserRegistered {
            user_id,
            username: registration.username.clone(),
            role,
            registered_at: now,
        },
    );

    let mut tx = ctx.pool.begin().await.map_err(RegisterError::Database)?;
    users::insert(&mut tx, &user)
        .await
        .map_err(|error| match error {
            SaveUserError::EmailTaken => RegisterError::EmailTaken,
            SaveUserError::UsernameTaken => RegisterError::UsernameTaken,
            SaveUserError::Database(error) => RegisterError::Database(error),
        })?;
    outbox::append(&mut tx, &ctx.topics.account_events, &event)
        .await
        .map_err(RegisterError::Database)?;
    if role != Role::User {
        let context = AuditContext {
            actor: None,
            request_id: correlation_id,
        };
        let entry = AuditEntry {
            action: "user.create_privileged",
            target: format!("user:{user_id}"),
            details: serde_json::json!({ "role": role }),
        };
        audit::record(&mut tx, &ctx.topics.audit_events, &context, entry)
            .await
            .map_err(RegisterError::Database)?;
    }
    tx.commit().await.map_err(RegisterError::Database)?;

    tracing::info!(user.id = %user_id, user.role = ?role, "user registered");
    Ok(Registered {
        user_id,
        username: registration.username,
        version: 1,
    })
}
