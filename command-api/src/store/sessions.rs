//! The `refresh_tokens` table: sessions as families of rotated refresh tokens.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

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

/// Revokes every token of a family; true if the family was still active.
pub async fn revoke_family(
    tx: &mut PgConnection,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(revoked.rows_affected() > 0)
}

/// Revokes every session of a user; returns how many sessions were still active.
pub async fn revoke_all_of_user(
    tx: &mut PgConnection,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<u32, sqlx::Error> {
    let families: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
         RETURNING family_id",
    )
    .bind(user_id)
    .bind(at)
    .fetch_all(tx)
    .await?;
    let mut distinct = families;
    distinct.sort_unstable();
    distinct.dedup();
    Ok(u32::try_from(distinct.len()).unwrap_or(u32::MAX))
}
