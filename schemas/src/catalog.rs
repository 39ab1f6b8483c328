//! The index of every event type: where each is published and how its JSON Schema is
//! generated. Adding an event type means adding one line to [`EVENT_TYPES`].

use schemars::{Schema, schema_for};

use crate::{DomainEvent, Envelope, accounts, audit, imports, releases, topics};

/// One event type as published.
pub struct EventType {
    /// The `event_type` field.
    pub name: &'static str,
    /// The current `schema_version`.
    pub schema_version: u32,
    /// The default topic it is published on.
    pub topic: &'static str,
    /// JSON Schema of the whole envelope with this payload.
    pub schema: fn() -> Schema,
    /// Parses an envelope of this type with the current Rust types; used to prove
    /// that recorded samples of earlier schema versions still deserialize.
    pub parse: fn(&str) -> Result<(), serde_json::Error>,
}

const fn entry<P: DomainEvent>(topic: &'static str) -> EventType {
    EventType {
        name: P::EVENT_TYPE,
        schema_version: P::SCHEMA_VERSION,
        topic,
        schema: || schema_for!(Envelope<P>),
        parse: |text| serde_json::from_str::<Envelope<P>>(text).map(drop),
    }
}

/// Every event type the platform publishes.
pub const EVENT_TYPES: &[EventType] = &[
    entry::<accounts::UserRegistered>(topics::ACCOUNT_EVENTS),
    entry::<accounts::UserLoggedIn>(topics::ACCOUNT_ACTIVITY),
    entry::<accounts::UserRoleChanged>(topics::ACCOUNT_EVENTS),
    entry::<accounts::UserPasswordChanged>(topics::ACCOUNT_EVENTS),
    entry::<accounts::UserSessionsRevoked>(topics::ACCOUNT_EVENTS),
    entry::<audit::AuditRecorded>(topics::AUDIT_EVENTS),
    entry::<releases::ReleaseUpserted>(topics::CATALOG_EVENTS),
    entry::<releases::ReleaseDeleted>(topics::CATALOG_EVENTS),
    entry::<releases::ReleaseSourcesUpserted>(topics::CATALOG_EVENTS),
    entry::<releases::ReleaseSourcesRemoved>(topics::CATALOG_EVENTS),
    entry::<imports::ImportRequested>(topics::IMPORT_EVENTS),
    entry::<imports::ImportUpdated>(topics::IMPORT_EVENTS),
];

impl EventType {
    /// The file name of its JSON Schema under `schemas/json/`.
    pub fn schema_file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.name, self.schema_version)
    }

    /// The JSON Schema as the pretty-printed text that is checked in.
    pub fn schema_text(&self) -> String {
        let mut schema = (self.schema)();
        schema.insert("$id".into(), self.schema_file_name().into());
        schema.insert("title".into(), self.name.into());
        // Pin the discriminating fields so a validator rejects a mislabelled record.
        if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            properties.insert(
                "event_type".into(),
                serde_json::json!({ "const": self.name }),
            );
            properties.insert(
                "schema_version".into(),
                serde_json::json!({ "const": self.schema_version }),
            );
        }
        let mut text = serde_json::to_string_pretty(&schema).expect("a schema is valid JSON");
        text.push('\n');
        text
    }
}
