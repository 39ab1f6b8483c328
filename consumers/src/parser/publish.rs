//! What the parser writes to Kafka: catalogue commands (keyed by import id, each with
//! a fresh UUIDv7 `command_id`) and copies of materials that did not normalise in the
//! group's dead-letter topic. Every send is awaited until the broker acknowledged it,
//! so a page is durable before the next one is fetched.

use std::time::Duration;

use chrono::Utc;
use platform::{consumer::Record, kafka};
use rdkafka::{
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
};
use schemas::{
    imports::{CatalogCommand, CatalogCommandMessage},
    record,
};
use serde_json::Value;
use uuid::Uuid;

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The record exceeds what Kafka accepts; retrying cannot help.
    #[error("the {what} is too large for kafka ({bytes} bytes)")]
    TooLarge {
        /// What was sent.
        what: &'static str,
        /// Its size before compression.
        bytes: usize,
    },
    /// Kafka did not acknowledge the record in time.
    #[error("kafka did not acknowledge the {what}")]
    Kafka {
        /// What was sent.
        what: &'static str,
        /// What librdkafka said.
        #[source]
        source: KafkaError,
    },
    /// The command could not be serialised (a bug).
    #[error("serialising a command")]
    Serialise(#[from] serde_json::Error),
}

/// Where and how the parser publishes.
pub struct Publisher {
    producer: kafka::Producer,
    commands_topic: String,
    dead_letter_topic: String,
    group: String,
    send_timeout: Duration,
}

impl Publisher {
    /// A publisher writing commands to `commands_topic` and rejected materials to
    /// `dead_letter_topic`, on behalf of consumer group `group`.
    pub fn new(
        producer: kafka::Producer,
        commands_topic: String,
        dead_letter_topic: String,
        group: String,
    ) -> Self {
        Self {
            producer,
            commands_topic,
            dead_letter_topic,
            group,
            send_timeout: Duration::from_secs(30),
        }
    }

    /// Sends one command about `import_id` and waits for the acknowledgement.
    pub async fn command(
        &self,
        import_id: Uuid,
        correlation_id: &str,
        command: CatalogCommand,
    ) -> Result<(), PublishError> {
        let message = CatalogCommandMessage {
            command_id: Uuid::now_v7(),
            correlation_id: correlation_id.to_owned(),
            issued_at: Utc::now(),
            command,
        };
        let payload = serde_json::to_vec(&message)?;
        let key = import_id.to_string();
        let headers = OwnedHeaders::new().insert(Header {
            key: record::HEADER_CORRELATION_ID,
            value: Some(correlation_id),
        });
        let record = kafka::Record::to(&self.commands_topic)
            .key(&key)
            .payload(&payload)
            .headers(headers);
        self.send(record, "catalogue command", payload.len()).await
    }

    /// Copies a material that did not normalise to the dead-letter topic, with the
    /// reason and the import event it came from in the `dlq.*` headers.
    pub async fn rejected_material(
        &self,
        import_id: Uuid,
        material: &Value,
        reason: &str,
        source: &Record,
    ) -> Result<(), PublishError> {
        let payload = serde_json::to_vec(material)?;
        let key = import_id.to_string();
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let mut headers = OwnedHeaders::new();
        for (key, value) in [
            (record::HEADER_DLQ_ERROR, reason),
            (record::HEADER_DLQ_GROUP, self.group.as_str()),
            (record::HEADER_DLQ_TOPIC, source.topic.as_str()),
            (record::HEADER_DLQ_PARTITION, partition.as_str()),
            (record::HEADER_DLQ_OFFSET, offset.as_str()),
            (record::HEADER_DLQ_ATTEMPTS, "1"),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let record = kafka::Record::to(&self.dead_letter_topic)
            .key(&key)
            .payload(&payload)
            .headers(headers);
        self.send(record, "rejected material", payload.len()).await
    }

    async fn send(
        &self,
        record: kafka::Record<'_>,
        what: &'static str,
        bytes: usize,
    ) -> Result<(), PublishError> {
        match self.producer.send(record, self.send_timeout).await {
            Ok(_) => Ok(()),
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {
                Err(PublishError::TooLarge { what, bytes })
            }
            Err(source) => Err(PublishError::Kafka { what, source }),
        }
    }
}
