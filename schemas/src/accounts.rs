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
