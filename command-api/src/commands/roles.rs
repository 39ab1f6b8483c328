//! Role changes, by administrators only (the router enforces it), with optimistic
//! concurrency on the user's version and an audit entry.

use chrono::Utc;
use platform::auth::Role;
use schemas::{Actor, Envelope, accounts::UserRoleChanged};
use uuid::Uuid;

use super::CommandContext;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    outbox,
    store::accounts as users,
};

/// `change_role`.
pub struct ChangeRole {
    /// The user whose role changes.
    pub user_id: Uuid,
    /// The new role.
    pub role: Role,
    /// The version the administrator saw; the change applies only to it.
    pub expected_version: i64,
}

/// Why a role change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeRoleError {
    /// No such user.
    #[error("no user {0}")]
    NotFound(Uuid),
    /// The user changed since the administrator looked.
    #[error("the user is at version {current}, not the expected one")]
    VersionConflict {
        /// The version now.
        current: i64,
    },
    /// The caller is no longer an administrator (demoted since their access token
    /// was issued).
    #[error("the caller {0} is not an administrator")]
    NotAdmin(Uuid),
    /// The change would leave no administrator.
    #[error("the user {0} is the last administrator")]
    LastAdmin(Uuid),
    /// The stored role is not one this build knows.
    #[error("the account {0} has an unknown role")]
    UnknownRole(Uuid),
    /// The database failed.
    #[error("changing a role")]
    Database(#[from] sqlx::Error),
}

/// Changes the role and records who did it; returns the user's new version.
///
/// The caller's role is read from the database under a lock, not taken from the
/// access token: a token names the role it was issued with for its whole lifetime,
/// and an administrator demoted meanwhile must not restore their role (or make
/// others administrators) with it.
///
/// The last administrator keeps the role: without one, nobody could change roles or
/// run imports again. A change away from `admin` first locks every administrator's
/// row in id order, so two administrators demoting each other at once cannot both
/// succeed (the second sees the first's change) and cannot deadlock.
pub async fn change_role(
    ctx: &CommandContext,
    audit_context: &AuditContext,
    command: ChangeRole,
) -> Result<i64, ChangeRoleError> {
    let actor_id = audit_context
        .actor
        .map(|principal| principal.user_id)
        .unwrap_or_default();
    let now = Utc::now();
    let mut tx = ctx.pool.begin().await?;
    let admins = if command.role == Role::Admin {
        Vec::new()
    } else {
        users::lock_admins(&mut tx).await?
    };
    let actor_role = users::role_for_share(&mut tx, actor_id).await?;
    if actor_role.as_deref().and_then(Role::parse) != Some(Role::Admin) {
        return Err(ChangeRoleError::NotAdmin(actor_id));
    }
    let user = users::find_for_update(&mut tx, command.user_id)
        .await?
        .ok_or(ChangeRoleError::NotFound(command.user_id))?;
    let previous_role = Role::parse(&user.role).ok_or(ChangeRoleError::UnknownRole(user.id))?;
    if previous_role == command.role {
        // Nothing changes, so nothing is written; the version still has to match.
        return if user.version == command.expected_version {
            Ok(user.version)
        } else {
            Err(ChangeRoleError::VersionConflict {
                current: user.version,
            })
        };
    }
    if previous_role == Role::Admin && admins.iter().all(|admin| *admin == user.id) {
        return Err(ChangeRoleError::LastAdmin(user.id));
    }
    let Some(version) = users::change_role(
        &mut tx,
        user.id,
        command.role,
        command.expected_version,
        now,
    )
    .await?
    else {
        return Err(ChangeRoleError::VersionConflict {
            current: user.version,
        });
    };

    let event = Envelope::new(
        user.id.to_string(),
        version,
        audit_context.request_id.clone(),
        Actor::User { id: actor_id },
        UserRoleChanged {
            user_id: user.id,
            previous_role,
            role: command.role,
            changed_by: actor_id,
            changed_at: now,
        },
    );
    outbox::append(&mut tx, &ctx.topics.account_events, &event).await?;
    let entry = AuditEntry {
        action: "user.change_role",
        target: format!("user:{}", user.id),
        details: serde_json::json!({ "previous_role": previous_role, "role": command.role }),
    };
    audit::record(&mut tx, &ctx.topics.audit_events, audit_context, entry).await?;
    tx.commit().await?;

    tracing::info!(user.id = %user.id, actor.id = %actor_id, user.role = ?command.role, "role changed");
    Ok(version)
}
