//! How an event becomes a Kafka record.
//!
//! - key: the aggregate id, so that every event of one aggregate lands on one
//!   partition and is read in order;
//! - value: the JSON [`Envelope`](crate::Envelope), UTF-8;
//! - headers: the fields a consumer may want to route on without parsing the value.
//!
//! Records a consumer group could not process are copied to its dead-letter topic
//! with the same key and value, plus the `dlq.*` headers below.

/// Header with the event type, e.g. `user.registered`.
pub const HEADER_EVENT_TYPE: &str = "event_type";
/// Header with the payload schema version, as decimal text.
pub const HEADER_SCHEMA_VERSION: &str = "schema_version";
/// Header with the event id (UUID text).
pub const HEADER_EVENT_ID: &str = "event_id";
/// Header with the correlation id.
pub const HEADER_CORRELATION_ID: &str = "correlation_id";

/// Dead-letter header: why processing failed.
pub const HEADER_DLQ_ERROR: &str = "dlq.error";
/// Dead-letter header: the consumer group that gave up.
pub const HEADER_DLQ_GROUP: &str = "dlq.group";
/// Dead-letter header: the topic the record was read from.
pub const HEADER_DLQ_TOPIC: &str = "dlq.source.topic";
/// Dead-letter header: the partition the record was read from.
pub const HEADER_DLQ_PARTITION: &str = "dlq.source.partition";
/// Dead-letter header: the offset the record had.
pub const HEADER_DLQ_OFFSET: &str = "dlq.source.offset";
/// Dead-letter header: how many times processing was attempted.
pub const HEADER_DLQ_ATTEMPTS: &str = "dlq.attempts";
