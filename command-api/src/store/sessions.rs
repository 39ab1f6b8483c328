//! The `refresh_tokens` table: sessions as families of rotated refresh tokens.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::outbox;

/// A refresh token as stored (by hash).
#[derive(Debug, sqlx::FromRow)]
pub struct RefreshTokenRow {
    /// The session.
    pub family_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for its successor.
    pub rotated_at: Option<DateTime<Utc>>,
    /// When its family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session about to open for a password just verified.
pub struct SignIn<'a> {
    /// The account.
    pub user_id: Uuid,
    /// The password hash the password was verified against.
    pub verified_hash: &'a str,
    /// A stronger hash of the same password to store instead, if any.
    pub new_hash: Option<&'a str>,
    /// The hash of the session's first refresh token.
    pub token_hash: &'a [u8],
    /// The new session.
    pub family_id: Uuid,
    /// Now.
    pub issued_at: DateTime<Utc>,
    /// When the refresh token expires.
    pub expires_at: DateTime<Utc>,
}

/// Opens a session, with its `events`, if the account still has the password hash
/// the password was verified against; returns the account's role, or `None` when the
/// account is gone or its password changed meanwhile (nothing is written then).
///
/// One statement, so one round trip and one transaction. The account row is locked
/// against updates while it runs: `FOR SHARE`, which concurrent sign-ins share, or
/// `FOR UPDATE` when it stores a stronger hash (two sharers that both went on to
/// update would deadlock). A password change that committed first makes the hash
/// differ; one that comes later waits and then revokes this session with the others.
pub async fn open_for_sign_in(
    pool: &PgPool,
    sign_in: SignIn<'_>,
    events: outbox::Batch,
) -> Result<Option<String>, sqlx::Error> {
    // The plain statement has no update of the account at all: a sign-in that does
    // not upgrade the hash leaves PostgreSQL less to plan and run.
    fn statement(upgrade: bool) -> String {
        let (lock, upgraded, next) = if upgrade {
            (
                "FOR UPDATE",
                "upgraded AS ( \
                     UPDATE users SET password_hash = $7 FROM account \
                     WHERE users.id = account.id \
                 ), ",
                8,
            )
        } else {
            ("FOR SHARE", "", 7)
        };
        format!(
            "WITH account AS ( \
                 SELECT id, role FROM users WHERE id = $1 AND password_hash = $2 {lock} \
             ), {upgraded}session AS ( \
                 INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) \
                 SELECT $3, $4, id, $5, $6 FROM account \
                 RETURNING user_id \
             ), events AS ({}) \
             SELECT role FROM account",
            outbox::Batch::insert_sql(next, "EXISTS (SELECT FROM session)")
        )
    }
    static PLAIN: LazyLock<String> = LazyLock::new(|| statement(false));
    static UPGRADING: LazyLock<String> = LazyLock::new(|| statement(true));
    let sql = if sign_in.new_hash.is_some() {
        &UPGRADING
    } else {
        &PLAIN
    };
    let mut query = sqlx::query(sql)
        .bind(sign_in.user_id)
        .bind(sign_in.verified_hash)
        .bind(sign_in.token_hash)
        .bind(sign_in.family_id)
        .bind(sign_in.issued_at)
        .bind(sign_in.expires_at);
    if let Some(new_hash) = sign_in.new_hash {
        query = query.bind(new_hash);
    }
    let row = events.bind(query).fetch_optional(pool).await?;
    row.map(|row| row.try_get("role")).transpose()
}

/// Saves a new token of `family_id`.
pub async fn insert(
    tx: &mut PgConnection,
    token_hash: &[u8],
    family_id: Uuid,
    user_id: Uuid,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(family_id)
    .bind(user_id)
    .bind(issued_at)
    .bind(expires_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// The token with this hash, locked for the rest of the transaction so two
/// concurrent refreshes with one token cannot both rotate it.
pub async fn find_for_update(
    tx: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<RefreshTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT family_id, user_id, expires_at, rotated_at, revoked_at \
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(tx)
    .await
}

/// Marks a token as exchanged.
pub async fn mark_rotated(
    tx: &mut PgConnection,
    token_hash: &[u8],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(at)
        .execute(tx)
        .await?;
    Ok(())
}

/// Revokes every token of a family; true if the family was still a live session
/// (it had a token that was neither exchanged nor expired).
pub async fn revoke_family(
    tx: &mut PgConnection,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let live: Vec<bool> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL \
         RETURNING rotated_at IS NULL AND expires_at > $2",
    )
    .bind(family_id)
    .bind(at)
    .fetch_all(tx)
    .await?;
    Ok(live.contains(&true))
}

/// Revokes every session of a user; returns how many were still live (had a token
/// that was neither exchanged nor expired).
pub async fn revoke_all_of_user(
    tx: &mut PgConnection,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<u32, sqlx::Error> {
    let families: Vec<(Uuid, bool)> = sqlx::query_as(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
         RETURNING family_id, rotated_at IS NULL AND expires_at > $2",
    )
    .bind(user_id)
    .bind(at)
    .fetch_all(tx)
    .await?;
    let mut live: Vec<Uuid> = families
        .into_iter()
        .filter_map(|(family, live)| live.then_some(family))
        .collect();
    live.sort_unstable();
    live.dedup();
    Ok(u32::try_from(live.len()).unwrap_or(u32::MAX))
}
