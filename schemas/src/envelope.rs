//! The envelope every event travels in, and the trait that ties a payload to its
//! event type, schema version and aggregate.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// A payload type that is published as a domain event.
pub trait DomainEvent: Serialize + DeserializeOwned + JsonSchema {
    /// Dotted name, `<aggregate>.<past-tense verb>`, e.g. `user.registered`.
    const EVENT_TYPE: &'static str;
    /// Bumped on every change that is not the addition of an optional field.
    const SCHEMA_VERSION: u32;
    /// The aggregate the event belongs to, e.g. `user`.
    const AGGREGATE_TYPE: &'static str;
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in user (or a user registering themself).
    User {
        /// The user's id.
        id: Uuid,
    },
    /// A process of the platform, such as the catalogue importer.
    System {
        /// The process, e.g. `parser`.
        name: String,
    },
    /// Nobody identified.
    Anonymous,
}

/// The metadata half of an envelope, without the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventMeta {
    /// Unique id of this event (UUIDv7, so ids sort by creation time).
    pub event_id: Uuid,
    /// The event type, e.g. `user.registered`.
    pub event_type: String,
    /// Version of the payload schema for this event type.
    pub schema_version: u32,
    /// The aggregate type, e.g. `user` or `release`.
    pub aggregate_type: String,
    /// The aggregate's id, also the Kafka record key.
    pub aggregate_id: String,
    /// The aggregate's version after this event; starts at 1 and grows by one per change.
    pub aggregate_version: i64,
    /// When the change was committed (RFC 3339, UTC).
    pub occurred_at: DateTime<Utc>,
    /// Id shared by every event that one request or one import caused.
    pub correlation_id: String,
    /// The event or command that directly caused this event, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// Who caused the change.
    pub actor: Actor,
}

/// An event with its metadata, as published on a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<P> {
    /// Event metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The event-specific data.
    pub payload: P,
}

/// An envelope whose payload has not been interpreted yet: what a consumer reads
/// before it dispatches on `event_type` and `schema_version`.
pub type RawEnvelope = Envelope<serde_json::Value>;

impl<P: DomainEvent> Envelope<P> {
    /// Wraps `payload` in a fresh envelope with a new UUIDv7 and the current time.
    pub fn new(
        aggregate_id: impl Into<String>,
        aggregate_version: i64,
        correlation_id: impl Into<String>,
        actor: Actor,
        payload: P,
    ) -> Self {
        Self {
            meta: EventMeta {
                event_id: Uuid::now_v7(),
                event_type: P::EVENT_TYPE.to_owned(),
                schema_version: P::SCHEMA_VERSION,
                aggregate_type: P::AGGREGATE_TYPE.to_owned(),
                aggregate_id: aggregate_id.into(),
                aggregate_version,
                occurred_at: Utc::now(),
                correlation_id: correlation_id.into(),
                causation_id: None,
                actor,
            },
            payload,
        }
    }
}

impl RawEnvelope {
    /// True when this envelope carries an event of type `P` (any schema version this
    /// build understands).
    pub fn is<P: DomainEvent>(&self) -> bool {
        self.meta.event_type == P::EVENT_TYPE
    }

    /// Interprets the payload as `P`.
    pub fn payload_as<P: DomainEvent>(&self) -> Result<P, serde_json::Error> {
        P::deserialize(&self.payload)
    }
}
