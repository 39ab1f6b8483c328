//! The transactional outbox.
//!
//! A command handler calls [`append`] inside the transaction that saves the new state,
//! so "the state changed" and "the event will be published" commit or roll back
//! together. The [`relay`] later copies pending rows to Kafka. Kafka being down
//! therefore never fails a command: events wait in the table until it is back.

pub mod relay;

use schemas::{DomainEvent, Envelope, record};
use sqlx::PgConnection;

/// Appends one event to the outbox within the caller's transaction.
pub async fn append<P: DomainEvent>(
    tx: &mut PgConnection,
    topic: &str,
    envelope: &Envelope<P>,
) -> Result<(), sqlx::Error> {
    let json =
        serde_json::to_string(envelope).map_err(|error| sqlx::Error::Encode(error.into()))?;
    sqlx::query(
        "INSERT INTO outbox \
         (topic, message_key, event_id, event_type, schema_version, correlation_id, envelope) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::json)",
    )
    .bind(topic)
    .bind(&envelope.meta.aggregate_id)
    .bind(envelope.meta.event_id)
    .bind(&envelope.meta.event_type)
    .bind(envelope.meta.schema_version as i32)
    .bind(&envelope.meta.correlation_id)
    .bind(json)
    .execute(tx)
    .await?;
    Ok(())
}

/// The Kafka headers of an outbox row, per the record conventions in `schemas`.
pub(crate) fn headers_of(row: &relay::PendingRow) -> [(&'static str, String); 4] {
    [
        (record::HEADER_EVENT_TYPE, row.event_type.clone()),
        (
            record::HEADER_SCHEMA_VERSION,
            row.schema_version.to_string(),
        ),
        (record::HEADER_EVENT_ID, row.event_id.to_string()),
        (record::HEADER_CORRELATION_ID, row.correlation_id.clone()),
    ]
}
