//! Events of the `user` aggregate, published on the account events topic.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainEvent;

/// A new account was created.
///
/// The email address is deliberately absent: it is personal data that analytics does
/// not need and that must not spread through the topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegistered {
    /// The new user's id.
    pub user_id: Uuid,
    /// The public name, unique without regard to case.
    pub username: String,
    /// The role the account starts with.
    pub role: Role,
    /// When the account was created.
    pub registered_at: DateTime<Utc>,
}

impl DomainEvent for UserRegistered {
    const EVENT_TYPE: &'static str = "user.registered";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "user";
}

/// A user's role; each role can do everything the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Keeps lists, comments, reviews.
    User,
    /// Also edits the catalogue and moderates comments.
    Moderator,
    /// Also manages roles and imports.
    Admin,
}

impl Role {
    /// The role named `name` as stored and serialised (`user`, `moderator`, `admin`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Self::User),
            "moderator" => Some(Self::Moderator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A user signed in with their password, opening a session. Carries nothing but who
/// and when: no address, no device, no credential.
///
/// The aggregate is the session (its id is the envelope's `aggregate_id`, version 1),
/// not the user: a sign-in changes nothing about the account. Version 1 of this
/// event was published on `account.events` as a new version of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserLoggedIn {
    /// The user's id.
    pub user_id: Uuid,
    /// When the sign-in succeeded.
    pub logged_in_at: DateTime<Utc>,
}

impl DomainEvent for UserLoggedIn {
    const EVENT_TYPE: &'static str = "user.logged_in";
    const SCHEMA_VERSION: u32 = 2;
    const AGGREGATE_TYPE: &'static str = "session";
}

/// An administrator changed a user's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRoleChanged {
    /// The user whose role changed.
    pub user_id: Uuid,
    /// The role before the change.
    pub previous_role: Role,
    /// The role after the change.
    pub role: Role,
    /// The administrator who changed it.
    pub changed_by: Uuid,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl DomainEvent for UserRoleChanged {
    const EVENT_TYPE: &'static str = "user.role_changed";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "user";
}

/// A user changed their password; every session of theirs was revoked with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserPasswordChanged {
    /// The user's id.
    pub user_id: Uuid,
    /// When the password changed.
    pub changed_at: DateTime<Utc>,
}

impl DomainEvent for UserPasswordChanged {
    const EVENT_TYPE: &'static str = "user.password_changed";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "user";
}

/// Why sessions were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionsRevokedReason {
    /// The user signed out everywhere.
    LogoutAll,
    /// The password changed.
    PasswordChanged,
    /// An already-used refresh token was presented again: its family was revoked.
    RefreshTokenReused,
}

/// Sessions (refresh-token families) of a user were revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserSessionsRevoked {
    /// The user's id.
    pub user_id: Uuid,
    /// Why.
    pub reason: SessionsRevokedReason,
    /// How many sessions were still active and are now revoked.
    pub sessions: u32,
    /// When.
    pub revoked_at: DateTime<Utc>,
}

impl DomainEvent for UserSessionsRevoked {
    const EVENT_TYPE: &'static str = "user.sessions_revoked";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "user";
}
