//! The transactional outbox.
//!
//! A command handler calls [`append`] inside the transaction that saves the new state,
//! so "the state changed" and "the event will be published" commit or roll back
//! together. The [`relay`] later copies pending rows to Kafka. Kafka being down
//! therefore never fails a command: events wait in the table until it is back.

pub mod relay;

use std::sync::LazyLock;

use schemas::{DomainEvent, Envelope, record};
use sqlx::PgConnection;

/// Appends one event to the outbox within the caller's transaction.
pub async fn append<P: DomainEvent>(
    tx: &mut PgConnection,
    topic: &str,
    envelope: &Envelope<P>,
) -> Result<(), sqlx::Error> {
    let mut batch = Batch::default();
    batch.push(topic, envelope)?;
    batch.insert(tx).await
}

/// Events gathered in memory and appended to the outbox with one statement, in the
/// order they were pushed (the relay publishes in that order).
#[derive(Default)]
pub struct Batch {
    topics: Vec<String>,
    keys: Vec<String>,
    event_ids: Vec<uuid::Uuid>,
    event_types: Vec<String>,
    schema_versions: Vec<i32>,
    correlation_ids: Vec<String>,
    envelopes: Vec<String>,
}

impl Batch {
    /// Adds one event.
    pub fn push<P: DomainEvent>(
        &mut self,
        topic: &str,
        envelope: &Envelope<P>,
    ) -> Result<(), sqlx::Error> {
        let json =
            serde_json::to_string(envelope).map_err(|error| sqlx::Error::Encode(error.into()))?;
        self.topics.push(topic.to_owned());
        self.keys.push(envelope.meta.aggregate_id.clone());
        self.event_ids.push(envelope.meta.event_id);
        self.event_types.push(envelope.meta.event_type.clone());
        self.schema_versions
            .push(envelope.meta.schema_version as i32);
        self.correlation_ids
            .push(envelope.meta.correlation_id.clone());
        self.envelopes.push(json);
        Ok(())
    }

    /// Appends every gathered event within the caller's transaction.
    pub async fn insert(self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.topics.is_empty() {
            return Ok(());
        }
        static INSERT: LazyLock<String> = LazyLock::new(|| Batch::insert_sql(1, "true"));
        self.bind(sqlx::query(&INSERT)).execute(tx).await?;
        Ok(())
    }

    /// The statement that inserts a batch bound as parameters `$first` to `$first + 6`
    /// (see [`Batch::bind`]), in push order, when the SQL `condition` holds: it can make
    /// the events depend on an earlier part of one statement.
    pub fn insert_sql(first: usize, condition: &str) -> String {
        let p = |n: usize| first + n;
        format!(
            "INSERT INTO outbox \
             (topic, message_key, event_id, event_type, schema_version, correlation_id, envelope) \
             SELECT topic, message_key, event_id, event_type, schema_version, correlation_id, \
                 envelope::json \
             FROM unnest(${}::text[], ${}::text[], ${}::uuid[], ${}::text[], ${}::int[], \
                 ${}::text[], ${}::text[]) WITH ORDINALITY \
                 AS e(topic, message_key, event_id, event_type, schema_version, correlation_id, \
                     envelope, position) \
             WHERE {condition} \
             ORDER BY position",
            p(0),
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6)
        )
    }

    /// Binds the batch as the next seven parameters of `query`.
    pub fn bind(self, query: PgQuery<'_>) -> PgQuery<'_> {
        query
            .bind(self.topics)
            .bind(self.keys)
            .bind(self.event_ids)
            .bind(self.event_types)
            .bind(self.schema_versions)
            .bind(self.correlation_ids)
            .bind(self.envelopes)
    }
}

/// A statement with its parameters.
pub type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

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
