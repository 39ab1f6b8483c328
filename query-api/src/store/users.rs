//! The `user_profiles` read model.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// A public profile row.
#[derive(Debug, sqlx::FromRow)]
pub struct ProfileRow {
    pub user_id: Uuid,
    pub username: String,
    pub role: String,
    pub registered_at: DateTime<Utc>,
    pub version: i64,
}

/// The profile of `user_id`, if projected.
pub async fn profile(pool: &PgPool, user_id: Uuid) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, username, role, registered_at, version FROM user_profiles WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
}
