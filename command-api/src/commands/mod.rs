//! Command handlers: each checks a command against the domain rules, then saves the
//! new state and its events to the outbox in one transaction.

pub mod accounts;
pub mod hashing;
pub mod imports;
pub mod releases;
pub mod roles;
pub mod sessions;

use std::time::Duration;

use platform::{auth::TokenKeys, config::KafkaArgs};
use sqlx::PgPool;

pub use self::hashing::{HashingFailed, HashingPool};
use crate::domain::{accounts::PasswordHasher, passwords::PasswordPolicy};

/// What command handlers need.
#[derive(Clone)]
pub struct CommandContext {
    /// The write-model database.
    pub pool: PgPool,
    /// Password hashing at the configured cost, one thread per core; run it through
    /// [`CommandContext::hashing`].
    pub hashing: HashingPool,
    /// What a new password must be.
    pub password_policy: PasswordPolicy,
    /// Signs access tokens.
    pub tokens: TokenKeys,
    /// Lifetime of a refresh token (and so of an idle session).
    pub refresh_token_ttl: Duration,
    /// Resolved topic names.
    pub topics: Topics,
}

impl CommandContext {
    /// Runs password hashing work on the hashing threads; see [`HashingPool`].
    pub async fn hashing<T, F>(&self, work: F) -> Result<T, HashingFailed>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.hashing.run(work).await
    }
}

/// Topic names with the configured prefix applied.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Where account events go.
    pub account_events: String,
    /// Where sign-ins go.
    pub account_activity: String,
    /// Where audit entries go.
    pub audit_events: String,
    /// Where release events go.
    pub catalog_events: String,
    /// Where import events go.
    pub import_events: String,
    /// Where the parser sends catalogue commands (consumed, not published, here).
    pub catalog_commands: String,
}

impl Topics {
    /// Resolves the default names under the configured prefix.
    pub fn new(kafka: &KafkaArgs) -> Self {
        Self {
            account_events: kafka.name(schemas::topics::ACCOUNT_EVENTS),
            account_activity: kafka.name(schemas::topics::ACCOUNT_ACTIVITY),
            audit_events: kafka.name(schemas::topics::AUDIT_EVENTS),
            catalog_events: kafka.name(schemas::topics::CATALOG_EVENTS),
            import_events: kafka.name(schemas::topics::IMPORT_EVENTS),
            catalog_commands: kafka.name(schemas::topics::CATALOG_COMMANDS),
        }
    }

    /// Every topic the command side publishes to.
    pub fn all(&self) -> Vec<String> {
        vec![
            self.account_events.clone(),
            self.account_activity.clone(),
            self.audit_events.clone(),
            self.catalog_events.clone(),
            self.import_events.clone(),
            self.catalog_commands.clone(),
        ]
    }
}
