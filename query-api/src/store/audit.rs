//! The `audit_log` read model.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// One audit entry.
#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub audit_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    pub action: String,
    pub target: String,
    pub request_id: String,
    pub recorded_at: DateTime<Utc>,
    pub details: serde_json::Value,
}

/// Filters of an audit query; every one is optional.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries older than this one (the keyset cursor).
    pub before: Option<Uuid>,
}

/// Up to `limit` entries matching `filter`, newest first.
pub async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT audit_id, actor_id, actor_role, action, target, request_id, recorded_at, details \
         FROM audit_log WHERE true",
    );
    if let Some(actor_id) = filter.actor_id {
        query.push(" AND actor_id = ").push_bind(actor_id);
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(target) = &filter.target {
        query.push(" AND target = ").push_bind(target.clone());
    }
    if let Some(from) = filter.from {
        query.push(" AND recorded_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND recorded_at < ").push_bind(to);
    }
    if let Some(before) = filter.before {
        query.push(" AND audit_id < ").push_bind(before);
    }
    query
        .push(" ORDER BY audit_id DESC LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}
