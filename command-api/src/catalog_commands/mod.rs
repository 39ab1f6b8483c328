//! The `catalog-commands` consumer group, run inside command-api so that only the
//! command side ever writes the catalogue.
//!
//! - Consumes: the catalogue commands topic (`CatalogCommandMessage` JSON from the
//!   parser, keyed by import id, so one import's pages arrive in order).
//! - Produces: the write model and, through the outbox, release and import events.
//! - Guarantees: each command is applied exactly once by its `command_id` (recorded
//!   in the applying transaction), so redelivery is harmless; a command naming an
//!   unknown import, or one that is not valid JSON, goes to `catalog-commands.dlq`.

use platform::consumer::{Handler, HandlerError, Record};
use schemas::imports::CatalogCommandMessage;

use crate::commands::{
    CommandContext,
    imports::{self, ApplyError},
};

/// Applies catalogue commands.
pub struct CatalogCommands {
    ctx: CommandContext,
}

impl CatalogCommands {
    /// A handler using the command side's context.
    pub fn new(ctx: CommandContext) -> Self {
        Self { ctx }
    }
}

impl Handler for CatalogCommands {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let value = record
            .value
            .as_deref()
            .ok_or_else(|| HandlerError::Poison("record has no value".to_owned()))?;
        let message: CatalogCommandMessage = serde_json::from_slice(value)
            .map_err(|error| HandlerError::Poison(format!("not a catalogue command: {error}")))?;
        imports::apply(&self.ctx, message)
            .await
            .map_err(|error| match error {
                ApplyError::UnknownImport(_) => HandlerError::Poison(error.to_string()),
                ApplyError::Database(error) if platform::db::is_unavailable(&error) => {
                    HandlerError::Unavailable(format!("database: {error}"))
                }
                ApplyError::Database(error) => HandlerError::Failed(format!("database: {error}")),
            })
    }
}
