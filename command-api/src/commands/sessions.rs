//! Sign-in and sessions: login, refresh, logout, logout everywhere, password change.
//!
//! Passwords are verified here and nowhere else. A session is a family of refresh
//! tokens: login starts one, every refresh replaces its token with a new one, and a
//! token presented after it was replaced means it leaked, so the whole family is
//! revoked.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use platform::{
    auth::{IssuedToken, Principal, Role},
    http::FieldError,
};
use schemas::{
    Actor, Envelope,
    accounts::{SessionsRevokedReason, UserLoggedIn, UserPasswordChanged, UserSessionsRevoked},
};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::CommandContext;
use crate::{
    domain::{accounts::Verification, passwords},
    outbox,
    store::{
        accounts::{self as users, Credentials},
        sessions::{self, SignIn},
    },
};

/// Longest email or username accepted as a login.
const LOGIN_MAX_CHARS: usize = 254;
/// Longest password looked at; longer ones are refused before any hashing.
const PASSWORD_MAX_CHARS: usize = 1024;
/// Longest refresh token looked at; ours are 43 characters.
const REFRESH_TOKEN_MAX_CHARS: usize = 128;

/// `login`: exchange credentials for a session.
pub struct Login {
    /// Email or username.
    pub login: String,
    /// The password as typed.
    pub password: String,
    /// Correlation id of the request.
    pub correlation_id: String,
}

/// A new or refreshed session.
#[derive(Debug)]
pub struct Session {
    /// The user.
    pub user_id: Uuid,
    /// Their role, as written in the access token.
    pub role: Role,
    /// The signed access token.
    pub access: IssuedToken,
    /// The opaque refresh token; only its hash is stored.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// Why a session command was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown account or wrong password; which of the two is never said.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Unknown, expired, revoked or reused refresh token.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A field breaks a rule.
    #[error("fields are invalid")]
    Invalid(Vec<FieldError>),
    /// The account a valid access token was issued to no longer exists (a restored
    /// database, keys shared with another environment).
    #[error("the account {0} no longer exists")]
    AccountGone(Uuid),
    /// The account has a role this version does not know.
    #[error("the account {0} is unusable")]
    UnusableAccount(Uuid),
    /// Hashing or verifying a password failed.
    #[error("hashing a password")]
    Hashing,
    /// Signing the access token failed.
    #[error("signing an access token")]
    Signing,
    /// The database failed.
    #[error("saving a session")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for SessionError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// Verifies the credentials (as expensively for unknown accounts as for known ones),
/// re-hashes a hash weaker than the configured cost, and opens a session.
pub async fn login(ctx: &CommandContext, command: Login) -> Result<Session, SessionError> {
    let login = command.login.trim().to_owned();
    let mut errors = Vec::new();
    if login.is_empty() || login.chars().count() > LOGIN_MAX_CHARS {
        errors.push(field_error(
            "login",
            format!("must be an email or a username of at most {LOGIN_MAX_CHARS} characters"),
        ));
    }
    if command.password.is_empty() || command.password.chars().count() > PASSWORD_MAX_CHARS {
        errors.push(field_error(
            "password",
            format!("must be 1 to {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(SessionError::Invalid(errors));
    }
    let password = passwords::normalise(&command.password);

    let mut conn = ctx.pool.acquire().await?;
    let account = users::find_by_login(&mut conn, &login).await?;
    drop(conn);

    let stored_hash = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    let candidate = password.clone();
    let verification = ctx
        .hashing(move |hasher| match stored_hash {
            Some(stored) => hasher.verify(&candidate, &stored),
            None => {
                hasher.verify_dummy(&candidate);
                Verification::Mismatch
            }
        })
        .await
        .map_err(|_| SessionError::Hashing)?;
    let account = match (account, verification) {
        (Some(account), Verification::Match | Verification::MatchNeedsRehash) => account,
        _ => {
            tracing::info!("sign-in refused");
            return Err(SessionError::InvalidCredentials);
        }
    };

    let new_hash = if verification == Verification::MatchNeedsRehash {
        let rehashed = ctx
            .hashing(move |hasher| hasher.hash(&password))
            .await
            .map_err(|_| SessionError::Hashing)?
            .map_err(|_| SessionError::Hashing)?;
        tracing::info!(user.id = %account.id, "password re-hashed at the configured cost");
        Some(rehashed)
    } else {
        None
    };

    let now = Utc::now();
    let family_id = Uuid::now_v7();
    let refresh_token = new_refresh_token();
    // A new session, not a new version of the account.
    let mut events = outbox::Batch::default();
    events.push(
        &ctx.topics.account_activity,
        &Envelope::new(
            family_id.to_string(),
            1,
            command.correlation_id,
            Actor::User { id: account.id },
            UserLoggedIn {
                user_id: account.id,
                logged_in_at: now,
            },
        ),
    )?;
    // The password may have changed while it was being verified; a password change
    // revokes every session, so one must not open on the old password after it.
    let opened = sessions::open_for_sign_in(
        &ctx.pool,
        SignIn {
            user_id: account.id,
            verified_hash: &account.password_hash,
            new_hash: new_hash.as_deref(),
            token_hash: &hash_refresh_token(&refresh_token),
            family_id,
            issued_at: now,
            expires_at: expiry(ctx, now),
        },
        events,
    )
    .await?;
    let Some(role) = opened else {
        tracing::info!(user.id = %account.id, "sign-in refused: the account changed meanwhile");
        return Err(SessionError::InvalidCredentials);
    };
    let role = Role::parse(&role).ok_or(SessionError::UnusableAccount(account.id))?;

    tracing::info!(user.id = %account.id, session.id = %family_id, "signed in");
    open_session(ctx, account.id, role, family_id, refresh_token)
}

/// Exchanges a refresh token for a new pair. Presenting a token that was already
/// exchanged revokes its whole family.
pub async fn refresh(
    ctx: &CommandContext,
    refresh_token: &str,
    correlation_id: String,
) -> Result<Session, SessionError> {
    if refresh_token.is_empty() || refresh_token.len() > REFRESH_TOKEN_MAX_CHARS {
        return Err(SessionError::InvalidRefreshToken);
    }
    let token_hash = hash_refresh_token(refresh_token);
    let now = Utc::now();

    let mut tx = ctx.pool.begin().await?;
    let Some(stored) = sessions::find_for_update(&mut tx, &token_hash).await? else {
        return Err(SessionError::InvalidRefreshToken);
    };
    if stored.revoked_at.is_some() {
        return Err(SessionError::InvalidRefreshToken);
    }
    // Reuse is checked before expiry: a spent token that comes back, however late,
    // means someone else holds the session.
    if stored.rotated_at.is_some() {
        let live = sessions::revoke_family(&mut tx, stored.family_id, now).await?;
        sessions_revoked(
            ctx,
            &mut tx,
            stored.user_id,
            SessionsRevokedReason::RefreshTokenReused,
            u32::from(live),
            correlation_id,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(
            security.event = "refresh_token_reuse",
            user.id = %stored.user_id,
            session.id = %stored.family_id,
            "an already-used refresh token was presented; its session is revoked"
        );
        return Err(SessionError::InvalidRefreshToken);
    }
    if stored.expires_at <= now {
        return Err(SessionError::InvalidRefreshToken);
    }

    let Some(account) = users::find_for_update(&mut tx, stored.user_id).await? else {
        return Err(SessionError::InvalidRefreshToken);
    };
    let role = role_of(&account)?;
    let next_token = new_refresh_token();
    sessions::mark_rotated(&mut tx, &token_hash, now).await?;
    sessions::insert(
        &mut tx,
        &hash_refresh_token(&next_token),
        stored.family_id,
        stored.user_id,
        now,
        expiry(ctx, now),
    )
    .await?;
    tx.commit().await?;

    tracing::debug!(user.id = %stored.user_id, session.id = %stored.family_id, "session refreshed");
    open_session(ctx, stored.user_id, role, stored.family_id, next_token)
}

/// Ends the caller's current session (the family its access token belongs to).
pub async fn logout(ctx: &CommandContext, principal: Principal) -> Result<(), SessionError> {
    let family_id = principal.session_id;
    let mut tx = ctx.pool.begin().await?;
    sessions::revoke_family(&mut tx, family_id, Utc::now()).await?;
    tx.commit().await?;
    tracing::info!(user.id = %principal.user_id, session.id = %family_id, "signed out");
    Ok(())
}

/// Ends every session of the caller; returns the account's new version.
pub async fn logout_all(
    ctx: &CommandContext,
    principal: Principal,
    correlation_id: String,
) -> Result<i64, SessionError> {
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    // Without a lock: refresh locks a token and then its account, so locking the
    // account before the tokens here could deadlock with it.
    if users::find(&mut tx, principal.user_id).await?.is_none() {
        return Err(SessionError::AccountGone(principal.user_id));
    }
    let revoked = sessions::revoke_all_of_user(&mut tx, principal.user_id, now).await?;
    let version = sessions_revoked(
        ctx,
        &mut tx,
        principal.user_id,
        SessionsRevokedReason::LogoutAll,
        revoked,
        correlation_id,
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %principal.user_id, sessions = revoked, "signed out everywhere");
    Ok(version)
}

/// `change_password`: needs the current password; revokes every session.
pub struct ChangePassword {
    /// The password now.
    pub current_password: String,
    /// The password to set.
    pub new_password: String,
    /// Correlation id of the request.
    pub correlation_id: String,
}

/// Checks the current password, applies the policy to the new one, saves its hash and
/// revokes every session (`user.password_changed`, then `user.sessions_revoked` when
/// there were any); returns the account's new version.
pub async fn change_password(
    ctx: &CommandContext,
    principal: Principal,
    command: ChangePassword,
) -> Result<i64, SessionError> {
    if command.current_password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(SessionError::InvalidCredentials);
    }
    let mut conn = ctx.pool.acquire().await?;
    let account = users::find(&mut conn, principal.user_id)
        .await?
        .ok_or(SessionError::AccountGone(principal.user_id))?;
    drop(conn);

    let current = passwords::normalise(&command.current_password);
    let stored = account.password_hash.clone();
    let verification = ctx
        .hashing(move |hasher| hasher.verify(&current, &stored))
        .await
        .map_err(|_| SessionError::Hashing)?;
    if verification == Verification::Mismatch {
        tracing::info!(user.id = %account.id, "password change refused: wrong current password");
        return Err(SessionError::InvalidCredentials);
    }

    let new_password = passwords::normalise(&command.new_password);
    if new_password == passwords::normalise(&command.current_password) {
        return Err(SessionError::Invalid(vec![field_error(
            "new_password",
            "must differ from the current password".to_owned(),
        )]));
    }
    let violations =
        ctx.password_policy
            .violations_for(&new_password, &account.username, &account.email);
    if !violations.is_empty() {
        let errors = violations
            .into_iter()
            .map(|message| field_error("new_password", message))
            .collect();
        return Err(SessionError::Invalid(errors));
    }
    let new_hash = ctx
        .hashing(move |hasher| hasher.hash(&new_password))
        .await
        .map_err(|_| SessionError::Hashing)?
        .map_err(|_| SessionError::Hashing)?;

    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    // Another change may have committed while this one was hashing: the current
    // password verified above is then no longer current.
    let locked = users::find_for_update(&mut tx, account.id).await?;
    if locked.is_none_or(|locked| locked.password_hash != account.password_hash) {
        tracing::info!(user.id = %account.id, "password change refused: the password changed meanwhile");
        return Err(SessionError::InvalidCredentials);
    }
    let version = users::bump_version(&mut tx, account.id, Some(&new_hash), now).await?;
    let revoked = sessions::revoke_all_of_user(&mut tx, account.id, now).await?;
    let event = Envelope::new(
        account.id.to_string(),
        version,
        command.correlation_id,
        Actor::User { id: account.id },
        UserPasswordChanged {
            user_id: account.id,
            changed_at: now,
        },
    );
    outbox::append(&mut tx, &ctx.topics.account_events, &event).await?;
    let version = if revoked > 0 {
        sessions_revoked(
            ctx,
            &mut tx,
            account.id,
            SessionsRevokedReason::PasswordChanged,
            revoked,
            event.meta.correlation_id.clone(),
            now,
        )
        .await?
    } else {
        version
    };
    tx.commit().await?;
    tracing::info!(user.id = %account.id, sessions = revoked, "password changed, sessions revoked");
    Ok(version)
}

/// Raises the version and appends `user.sessions_revoked`; returns the new version.
async fn sessions_revoked(
    ctx: &CommandContext,
    tx: &mut PgConnection,
    user_id: Uuid,
    reason: SessionsRevokedReason,
    sessions: u32,
    correlation_id: String,
    now: DateTime<Utc>,
) -> Result<i64, SessionError> {
    let version = users::bump_version(tx, user_id, None, now).await?;
    let event = Envelope::new(
        user_id.to_string(),
        version,
        correlation_id,
        Actor::User { id: user_id },
        UserSessionsRevoked {
            user_id,
            reason,
            sessions,
            revoked_at: now,
        },
    );
    outbox::append(tx, &ctx.topics.account_events, &event).await?;
    Ok(version)
}

fn open_session(
    ctx: &CommandContext,
    user_id: Uuid,
    role: Role,
    family_id: Uuid,
    refresh_token: String,
) -> Result<Session, SessionError> {
    let access = ctx
        .tokens
        .issue(user_id, role, family_id)
        .map_err(|_| SessionError::Signing)?;
    Ok(Session {
        user_id,
        role,
        access,
        refresh_token,
        refresh_expires_in: ctx.refresh_token_ttl.as_secs(),
    })
}

fn role_of(account: &Credentials) -> Result<Role, SessionError> {
    Role::parse(&account.role).ok_or(SessionError::UnusableAccount(account.id))
}

fn expiry(ctx: &CommandContext, now: DateTime<Utc>) -> DateTime<Utc> {
    let ttl =
        chrono::Duration::from_std(ctx.refresh_token_ttl).unwrap_or(chrono::Duration::days(30));
    now + ttl
}

/// 256 random bits from the thread-local CSPRNG, URL-safe base64.
fn new_refresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 is enough for a token with 256 bits of entropy: there is nothing to guess.
fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn field_error(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message,
    }
}
