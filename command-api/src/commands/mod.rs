//! Command handlers: each checks a command against the domain rules, then saves the
//! new state and its events to the outbox in one transaction.

pub mod accounts;
pub mod imports;
pub mod releases;
pub mod roles;
pub mod sessions;

use std::{sync::Arc, time::Duration};

use platform::{auth::TokenKeys, config::KafkaArgs};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::domain::{accounts::PasswordHasher, passwords::PasswordPolicy};

/// What command handlers need.
#[derive(Clone)]
pub struct CommandContext {
    /// The write-model database.
    pub pool: PgPool,
    /// Password hashing at the configured cost; run it through
    /// [`CommandContext::hashing`].
    pub hasher: PasswordHasher,
    /// One permit per core: how many hashes may run at once.
    pub hashing_slots: Arc<Semaphore>,
    /// What a new password must be.
    pub password_policy: PasswordPolicy,
    /// Signs access tokens.
    pub tokens: TokenKeys,
    /// Lifetime of a refresh token (and so of an idle session).
    pub refresh_token_ttl: Duration,
    /// Resolved topic names.
    pub topics: Topics,
}

/// Password hashing could not run (its blocking task panicked or was cancelled).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashingFailed;

impl CommandContext {
    /// How many password hashing jobs run at once: one per core.
    pub fn hashing_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// Permits for [`CommandContext::hashing`]: [`CommandContext::hashing_jobs`].
    pub fn hashing_slots() -> Arc<Semaphore> {
        Arc::new(Semaphore::new(Self::hashing_jobs()))
    }

    /// Runs password hashing work on the blocking threads, at most one job per core at
    /// once. More would not finish sooner: argon2 is bound by memory bandwidth, and
    /// jobs beyond the core count only evict each other's memory from the caches and
    /// take the cores from everything else; they wait here instead.
    pub async fn hashing<T, F>(&self, work: F) -> Result<T, HashingFailed>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let _slot = self
            .hashing_slots
            .acquire()
            .await
            .map_err(|_| HashingFailed)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(|_| HashingFailed)
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
