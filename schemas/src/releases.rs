//! Events of the `release` aggregate (a title: TV series, film, OVA, ...), published on
//! the catalogue events topic with the release id as key.
//!
//! Events carry state, not deltas: `release.upserted` is the whole release as it is
//! after the change (without its video sources), and `release.sources_upserted` is
//! every video source of one translation of the release. A consumer can therefore
//! rebuild its view from the newest event of each kind and ignore older versions.
//! Every event of a release bumps the release's `aggregate_version`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainEvent;

/// What sort of title a release is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    /// A television series.
    Tv,
    /// A feature film.
    Movie,
    /// Original video animation.
    Ova,
    /// Original net animation.
    Ona,
    /// A special episode or short outside the main series.
    Special,
    /// A music video.
    Music,
}

/// Where a release is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    /// Announced, not airing yet.
    Announced,
    /// Airing: new episodes are coming.
    Ongoing,
    /// Finished airing.
    Released,
}

/// Age rating (MPAA-style, as the upstream reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgeRating {
    /// All ages.
    G,
    /// Parental guidance suggested.
    Pg,
    /// 13 and older.
    Pg13,
    /// 17 and older.
    R,
    /// Mild nudity.
    RPlus,
    /// Adult.
    Rx,
}

/// The language (and script) of a title.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TitleLanguage {
    /// Russian.
    Ru,
    /// English.
    En,
    /// Japanese in Latin script (romaji).
    Romaji,
    /// Japanese script.
    Ja,
    /// Any other language, by its code as the source gave it.
    #[serde(untagged)]
    Other(String),
}

/// The role of a title among the release's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TitleKind {
    /// The main title in its language.
    Main,
    /// An official title (licensed translation).
    Official,
    /// A synonym or alternative spelling.
    Synonym,
    /// An abbreviation.
    Short,
}

/// One name of a release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Title {
    /// The name, HTML entities already decoded.
    pub text: String,
    /// Its language.
    pub language: TitleLanguage,
    /// Its role.
    pub kind: TitleKind,
}

/// Identifiers of the release in other databases. The upstream material ids are the
/// Kodik ids (`serial-123`, `movie-45`) of every upstream row merged into the release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalIds {
    /// Shikimori (equal to MyAnimeList's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shikimori: Option<String>,
    /// Kinopoisk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinopoisk: Option<String>,
    /// IMDb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imdb: Option<String>,
    /// MyDramaList (not numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mydramalist: Option<String>,
    /// World Art link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worldart: Option<String>,
    /// Upstream (Kodik) material ids merged into this release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_material_ids: Vec<String>,
}

/// The season of the year a release started airing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum YearSeason {
    /// December to February.
    Winter,
    /// March to May.
    Spring,
    /// June to August.
    Summer,
    /// September to November.
    Fall,
}

/// `winter_2016` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct AiringSeason {
    /// Year.
    pub year: i32,
    /// Season of that year.
    pub season: YearSeason,
}

impl AiringSeason {
    /// The season a release first aired on `date` belongs to: December counts as the
    /// winter of the following year.
    pub fn of_date(date: chrono::NaiveDate) -> Self {
        use chrono::Datelike as _;
        let (year, season) = match date.month() {
            12 => (date.year() + 1, YearSeason::Winter),
            1 | 2 => (date.year(), YearSeason::Winter),
            3..=5 => (date.year(), YearSeason::Spring),
            6..=8 => (date.year(), YearSeason::Summer),
            _ => (date.year(), YearSeason::Fall),
        };
        Self { year, season }
    }
}

/// How a translation is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TranslationKind {
    /// Dubbed (voice-over).
    Voice,
    /// Subtitled.
    Subtitles,
}

/// A translation (a dub or a subtitle track) as the upstream identifies it. Two
/// translations can share a title; the id tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Translation {
    /// Upstream translation id.
    pub id: i64,
    /// Its name, usually the team's.
    pub title: String,
    /// Voice or subtitles.
    pub kind: TranslationKind,
}

/// One translation available for a release, as listed on the release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct TranslationSummary {
    /// The translation.
    pub translation: Translation,
    /// The team behind it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// How many episodes it covers.
    pub episodes: i32,
}

/// One episode of a release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Episode {
    /// Season number; 0 holds specials.
    pub season: i32,
    /// Episode number as a decimal string: `0`, `1`, `6.5`. Sort numerically.
    pub number: String,
    /// Episode title, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A recap episode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recap: bool,
    /// A filler episode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filler: bool,
}

/// A release was created or changed; the payload is the whole release after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseUpserted {
    /// The release id.
    pub release_id: Uuid,
    /// What sort of title it is.
    pub kind: ReleaseKind,
    /// Where it is in its life.
    pub status: ReleaseStatus,
    /// Every name, in every language. At least one.
    pub titles: Vec<Title>,
    /// Ids in other databases.
    pub external_ids: ExternalIds,
    /// Year it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// Season it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airing_season: Option<AiringSeason>,
    /// Genre names as the upstream gives them (Kodik's are Russian, e.g. `драма`).
    #[serde(default)]
    pub genres: Vec<String>,
    /// Age rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_rating: Option<AgeRating>,
    /// Synopsis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Poster image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
    /// Episodes planned; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_total: Option<i32>,
    /// Episodes aired so far, as the source reports it (can lag the episodes present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes_aired: Option<i32>,
    /// When the next episode airs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_episode_at: Option<DateTime<Utc>>,
    /// Average user score, 0 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// How many users scored or follow it: the popularity measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popularity: Option<i64>,
    /// Every episode, in numeric order.
    #[serde(default)]
    pub episodes: Vec<Episode>,
    /// Every translation that has video sources, by translation id.
    #[serde(default)]
    pub translations: Vec<TranslationSummary>,
    /// Imported without any external id: a moderator should check it.
    #[serde(default)]
    pub needs_review: bool,
}

impl DomainEvent for ReleaseUpserted {
    const EVENT_TYPE: &'static str = "release.upserted";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "release";
}

/// A release was deleted, with its episodes and sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseDeleted {
    /// The release id.
    pub release_id: Uuid,
}

impl DomainEvent for ReleaseDeleted {
    const EVENT_TYPE: &'static str = "release.deleted";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "release";
}

/// Which seasons or episodes of a translation are blocked (in some countries).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SeasonBlock {
    /// The season; absent means every season.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<i32>,
    /// Blocked episode numbers; absent means the whole season.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<Vec<String>>,
}

/// The player link of one episode in one translation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct EpisodeSource {
    /// Season number; 0 holds specials.
    pub season: i32,
    /// Episode number as a decimal string.
    pub episode: String,
    /// Absolute `https://` player URL.
    pub player_link: String,
}

/// The video sources of one translation of a release were created or changed; the
/// payload is all of them after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseSourcesUpserted {
    /// The release id.
    pub release_id: Uuid,
    /// The translation these sources are in.
    pub translation: Translation,
    /// The team behind it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Video quality as the upstream labels it, e.g. `WEB-DLRip 720p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    /// Recorded in a cinema.
    #[serde(default)]
    pub camrip: bool,
    /// Country codes where playback is blocked.
    #[serde(default)]
    pub blocked_countries: Vec<String>,
    /// Seasons or episodes that are blocked.
    #[serde(default)]
    pub blocked_seasons: Vec<SeasonBlock>,
    /// The upstream material these sources came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_material_id: Option<String>,
    /// When the upstream last changed that material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_updated_at: Option<DateTime<Utc>>,
    /// One player link per episode, in numeric order.
    pub sources: Vec<EpisodeSource>,
}

impl DomainEvent for ReleaseSourcesUpserted {
    const EVENT_TYPE: &'static str = "release.sources_upserted";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "release";
}

/// Every video source of one translation of a release was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseSourcesRemoved {
    /// The release id.
    pub release_id: Uuid,
    /// The translation whose sources are gone.
    pub translation_id: i64,
}

impl DomainEvent for ReleaseSourcesRemoved {
    const EVENT_TYPE: &'static str = "release.sources_removed";
    const SCHEMA_VERSION: u32 = 1;
    const AGGREGATE_TYPE: &'static str = "release";
}
