//! Catalogue imports: the events of the `import` aggregate (on the import events
//! topic), and the commands the parser sends to the command side (on the catalogue
//! commands topic), which alone writes the catalogue.
//!
//! The flow: an admin asks for an import (`import.requested`); the parser crawls the
//! upstream and sends one [`CatalogCommand::ImportPage`] per page of normalised
//! materials, then [`CatalogCommand::FinishImport`]; the command side merges each
//! material into a release, publishes release events for what changed, and keeps the
//! import's counters, published as `import.updated` snapshots.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    DomainEvent,
    releases::{
        AgeRating, ExternalIds, ReleaseKind, ReleaseStatus, SeasonBlock, Title, Translation,
    },
};

/// Full crawl, or only what changed since the last successful import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Every material the upstream lists.
    Full,
    /// Materials updated since the checkpoint of the last successful import.
    Incremental,
}

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Requested, not picked up yet.
    Queued,
    /// The parser is crawling.
    Running,
    /// Finished; failed materials, if any, are listed.
    Succeeded,
    /// Stopped by an error that affects the whole import (e.g. a rejected token).
    Failed,
    /// Stopped by an admin.
    Cancelled,
}

impl ImportState {
    /// True once nothing more will happen to the import.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// An admin asked for an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportRequested {
    /// The import id.
    pub import_id: Uuid,
    /// The upstream, `kodik`.
    pub source: String,
    /// Full or incremental.
    pub mode: ImportMode,
    /// Upstream filters, passed on as query parameters (e.g. `types`, `year`).
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// For incremental imports: materials updated before this are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

impl DomainEvent for ImportRequested {
    const EVENT_TYPE: &'static str = "import.requested";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "import";
}

/// Counters of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportCounters {
    /// Upstream pages fetched.
    pub pages: i64,
    /// Upstream materials (title-in-one-translation rows) seen.
    pub materials: i64,
    /// Releases created.
    pub releases_created: i64,
    /// Releases that changed.
    pub releases_updated: i64,
    /// Materials whose data was already in the catalogue.
    pub releases_unchanged: i64,
    /// Episodes in the imported materials.
    pub episodes: i64,
    /// Video sources in the imported materials.
    pub sources: i64,
    /// Materials or pages that could not be imported.
    pub failures: i64,
}

/// Something an import could not process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportFailure {
    /// The upstream material id, when the failure concerns one material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_id: Option<String>,
    /// The page number (1-based) the failure happened on.
    pub page: i64,
    /// Why. Never contains the upstream token.
    pub reason: String,
}

/// The state of an import after a change: a full snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ImportUpdated {
    /// The import id.
    pub import_id: Uuid,
    /// The upstream, `kodik`.
    pub source: String,
    /// Full or incremental.
    pub mode: ImportMode,
    /// Where it is.
    pub state: ImportState,
    /// Counters so far.
    pub counters: ImportCounters,
    /// The most recent failures (at most 100; `counters.failures` has the total).
    #[serde(default)]
    pub failures: Vec<ImportFailure>,
    /// Why the whole import failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When the parser started crawling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl DomainEvent for ImportUpdated {
    const EVENT_TYPE: &'static str = "import.updated";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "import";
}

/// One episode of an upstream material, with its player link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamEpisode {
    /// Season number; 0 holds specials.
    pub season: i32,
    /// Episode number as a decimal string.
    pub number: String,
    /// Episode title, when the upstream has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Absolute `https://` player URL.
    pub player_link: String,
}

/// One upstream row (a title in one translation), normalised by the parser: links
/// absolute, episodes in numeric order, HTML entities decoded, ids as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamMaterial {
    /// The upstream id, e.g. `serial-6647`.
    pub material_id: String,
    /// External ids (without `upstream_material_ids`).
    pub external_ids: ExternalIds,
    /// Kind of title.
    pub kind: ReleaseKind,
    /// Status, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReleaseStatus>,
    /// Every name the row carries.
    pub titles: Vec<Title>,
    /// Year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// Genres, lower-case.
    #[serde(default)]
    pub genres: Vec<String>,
    /// Age rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_rating: Option<AgeRating>,
    /// Synopsis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Poster URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
    /// Episodes planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_total: Option<i32>,
    /// Episodes aired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_aired: Option<i32>,
    /// First air date, which places the release in its airing season.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aired_at: Option<NaiveDate>,
    /// Next episode time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_episode_at: Option<DateTime<Utc>>,
    /// Score, 0 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Votes or members: popularity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popularity: Option<i64>,
    /// The row's translation.
    pub translation: Translation,
    /// The team behind the translation, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Quality label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// Cinema recording.
    #[serde(default)]
    pub camrip: bool,
    /// Blocked country codes.
    #[serde(default)]
    pub blocked_countries: Vec<String>,
    /// Blocked seasons or episodes.
    #[serde(default)]
    pub blocked_seasons: Vec<SeasonBlock>,
    /// When the upstream last changed the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Episodes with their links, in numeric order. A film is season 1, episode 1.
    pub episodes: Vec<UpstreamEpisode>,
}

/// A command to the catalogue's command side, as sent on the catalogue commands
/// topic (key: the import id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogCommandMessage {
    /// Unique id; the command side applies each id once.
    pub command_id: Uuid,
    /// Correlation id of the import.
    pub correlation_id: String,
    /// When it was sent.
    pub issued_at: DateTime<Utc>,
    /// The command.
    pub command: CatalogCommand,
}

/// What the parser asks the command side to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CatalogCommand {
    /// The parser picked the import up.
    StartImport {
        /// The import.
        import_id: Uuid,
    },
    /// Merge one page of materials into the catalogue.
    ImportPage {
        /// The import.
        import_id: Uuid,
        /// 1-based page number.
        page: i64,
        /// The page's materials that normalised cleanly.
        materials: Vec<UpstreamMaterial>,
        /// The page's materials (or the page itself) that did not.
        #[serde(default)]
        failures: Vec<ImportFailure>,
    },
    /// The crawl ended.
    FinishImport {
        /// The import.
        import_id: Uuid,
        /// Succeeded, failed or cancelled.
        state: ImportState,
        /// Why it failed, when it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Newest upstream update time seen; the next incremental import starts there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checkpoint: Option<DateTime<Utc>>,
    },
}
