//! The served data model. A *work* is one title with everything its rows share
//! (names, external ids, `material_data`); a *material* is one title in one
//! translation, i.e. one row of `results`, with its own id, link, dates and episodes.

use serde::Serialize;

use crate::{
    catalogue::{Kind, Status},
    links::LinkHost,
    translations::Translation,
};

/// External ids, as strings; `None` means the key is absent from the row.
#[derive(Debug, Clone, Default)]
pub struct ExternalIds {
    pub shikimori_id: Option<String>,
    pub kinopoisk_id: Option<String>,
    pub imdb_id: Option<String>,
    pub mdl_id: Option<String>,
    pub worldart_link: Option<String>,
}

/// `material_data`. Every key is optional upstream, and here too.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaterialData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_titles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_titles_en: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_titles_jp: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_poster_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genres: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_genres: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_genres: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anime_studios: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shikimori_rating: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shikimori_votes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinopoisk_rating: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinopoisk_votes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imdb_rating: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imdb_votes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episodes_total: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub episodes_aired: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aired_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_episode_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating_mpaa: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimal_age: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
}

/// Facts about a work that filters and sorting use. They are kept apart from
/// [`MaterialData`] because served keys may be dropped while the facts stay true.
#[derive(Debug, Clone)]
pub struct Facts {
    pub kind: Kind,
    pub status: Status,
    /// `material_data.genres` and `anime_genres`, lower-cased, for the genre filters.
    pub genres: Vec<String>,
    pub anime_genres: Vec<String>,
    pub rating_mpaa: Option<&'static str>,
    pub minimal_age: Option<u8>,
    pub shikimori_rating: Option<f64>,
    pub kinopoisk_rating: Option<f64>,
    pub imdb_rating: Option<f64>,
}

/// One title and everything its translations share.
#[derive(Debug, Clone)]
pub struct Work {
    pub title: String,
    pub title_orig: Option<String>,
    pub other_title: Option<String>,
    pub year: u16,
    pub ids: ExternalIds,
    pub material_data: MaterialData,
    pub facts: Facts,
    /// Lower-cased names with punctuation folded to spaces, for `/search?title=`.
    pub search_names: Vec<String>,
}

/// How an episode is written under `with_episodes` / `with_episodes_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpisodeStyle {
    /// A link string with `with_episodes`, an object with `with_episodes_data`.
    Auto,
    /// Always a link string, even with `with_episodes_data`.
    Link,
    /// Always an object, even with only `with_episodes`.
    Object,
}

/// One episode of a season.
#[derive(Debug, Clone, Copy)]
pub struct Episode {
    pub number: u32,
    pub style: EpisodeStyle,
    /// Whether the object form carries a `title`.
    pub titled: bool,
    /// How many screenshots the object form carries (0: no `screenshots` key).
    pub screenshots: u8,
}

impl Episode {
    pub fn plain(number: u32) -> Self {
        Self {
            number,
            style: EpisodeStyle::Auto,
            titled: false,
            screenshots: 0,
        }
    }
}

/// One season of a serial; `number` is the key it is served under.
#[derive(Debug, Clone)]
pub struct Season {
    pub number: u32,
    pub title: Option<String>,
    pub episodes: Vec<Episode>,
}

/// `blocked_seasons` in its upstream shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockedSeasons {
    /// `{}`
    None,
    /// `"all"`
    All,
    /// `{"1": "all"}`
    Season(u32),
    /// `{"2": ["3", "4"]}`
    Episodes(u32, Vec<u32>),
}

/// What only serials have.
#[derive(Debug, Clone)]
pub struct Serial {
    pub last_season: u32,
    pub last_episode: u32,
    pub episodes_count: u32,
    pub blocked_seasons: BlockedSeasons,
    pub seasons: Vec<Season>,
    /// Write season and episode keys in text order (`"1", "10", "2"`), which upstream
    /// JSON does not rule out; parsers must sort numerically themselves.
    pub text_order: bool,
}

impl Serial {
    /// A serial whose `last_*` and `episodes_count` agree with its seasons; season
    /// `"0"` (specials) counts only when it is the only season.
    pub fn new(seasons: Vec<Season>, blocked_seasons: BlockedSeasons, text_order: bool) -> Self {
        let main: Vec<&Season> = seasons.iter().filter(|s| s.number > 0).collect();
        let counted: Vec<&Season> = if main.is_empty() {
            seasons.iter().collect()
        } else {
            main
        };
        let last = counted.iter().max_by_key(|s| s.number);
        Self {
            last_season: last.map_or(1, |s| s.number),
            last_episode: last
                .and_then(|s| s.episodes.iter().map(|e| e.number).max())
                .unwrap_or(0),
            episodes_count: counted.iter().map(|s| s.episodes.len() as u32).sum(),
            blocked_seasons,
            seasons,
            text_order,
        }
    }
}

/// One row of `results`: a work in one translation.
#[derive(Debug, Clone)]
pub struct Material {
    /// The `N` of `serial-N` / `movie-N`; unique over the whole catalogue.
    pub number: u64,
    /// Films are `movie-N` of type `anime` and never have seasons.
    pub film: bool,
    /// Index of the work in [`crate::store::Store::works`].
    pub work: usize,
    pub translation: &'static Translation,
    pub link: String,
    /// Host and spelling of the season and episode links.
    pub host: LinkHost,
    pub quality: &'static str,
    pub camrip: bool,
    pub lgbt: bool,
    pub blocked_countries: &'static [&'static str],
    pub created_ms: i64,
    pub updated_ms: i64,
    pub screenshots: u8,
    /// This row lacks `shikimori_id` although its work has one, as some upstream
    /// rows do; the work keeps a `kinopoisk_id` so the row can still be joined.
    pub hide_shikimori: bool,
    pub serial: Option<Box<Serial>>,
}

impl Material {
    /// `serial-N` or `movie-N`.
    pub fn id(&self) -> String {
        format!(
            "{}-{}",
            if self.film { "movie" } else { "serial" },
            self.number
        )
    }

    /// The `type` value.
    pub fn kind(&self) -> &'static str {
        if self.film { "anime" } else { "anime-serial" }
    }

    /// The `shikimori_id` this row is served with.
    pub fn shikimori_id<'a>(&self, work: &'a Work) -> Option<&'a str> {
        if self.hide_shikimori {
            None
        } else {
            work.ids.shikimori_id.as_deref()
        }
    }
}

/// Parses `serial-N` / `movie-N` into `N`.
pub fn parse_material_id(id: &str) -> Option<u64> {
    let number = id
        .strip_prefix("serial-")
        .or_else(|| id.strip_prefix("movie-"))?;
    number.parse().ok()
}
