//! Command handlers: each checks a command against the domain rules, then saves the
//! new state and its events to the outbox in one transaction.

pub mod accounts;

use platform::config::KafkaArgs;
use sqlx::PgPool;

use crate::domain::accounts::PasswordHasher;

/// What command handlers need.
#[derive(Clone)]
pub struct CommandContext {
    /// The write-model database.
    pub pool: PgPool,
    /// Password hashing at the configured cost.
    pub hasher: PasswordHasher,
    /// Resolved topic names.
    pub topics: Topics,
}

/// Topic names with the configured prefix applied.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Where account events go.
    pub account_events: String,
}

impl Topics {
    /// Resolves the default names under the configured prefix.
    pub fn new(kafka: &KafkaArgs) -> Self {
        Self {
            account_events: kafka.name(schemas::topics::ACCOUNT_EVENTS),
        }
    }

    /// Every topic the command side publishes to.
    pub fn all(&self) -> Vec<String> {
        vec![self.account_events.clone()]
    }
}
