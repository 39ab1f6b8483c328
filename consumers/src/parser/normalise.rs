//! One upstream material (a row of `/list` results) → [`UpstreamMaterial`], the shape
//! the command side merges into the catalogue.
//!
//! The upstream is loose, so this reads the row as a JSON object and picks fields by
//! hand instead of deriving a strict struct: an optional field of an unexpected type
//! is dropped, while what a material cannot do without (an id, a title, a
//! translation, a usable player link, readable seasons) makes the whole material fail
//! with a reason. Decisions the command side can rely on:
//!
//! - every link is one absolute `https://` URL (protocol-relative, `http://` and
//!   doubled schemes are repaired; hosts are kept as they are);
//! - episodes are sorted by season, then numerically by episode number; season 0
//!   holds specials; a season's own link is never an episode link;
//! - a film (`type` `anime`, or a row without `seasons`) is season 1, episode `1`,
//!   with the material's link;
//! - titles are HTML-entity-decoded once, trimmed, and unique by text (the first,
//!   most authoritative, source wins);
//! - ids are strings, and absent when the upstream has none.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Url;
use schemas::{
    imports::{UpstreamEpisode, UpstreamMaterial},
    releases::{
        AgeRating, ExternalIds, ReleaseKind, ReleaseStatus, SeasonBlock, Title, TitleKind,
        TitleLanguage, Translation, TranslationKind,
    },
};
use serde_json::{Map, Value};

/// Why a material could not be normalised. The text becomes the import failure's
/// reason, so it names the offending field but never repeats a URL.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    /// The row is not a JSON object.
    #[error("material is not a JSON object")]
    NotAnObject,
    /// No `id`.
    #[error("material has no id")]
    MissingId,
    /// No title in any field.
    #[error("material has no title")]
    MissingTitle,
    /// No readable `translation`.
    #[error("material has no readable translation")]
    MissingTranslation,
    /// A translation type other than `voice` or `subtitles`.
    #[error("unknown translation type {0:?}")]
    UnknownTranslationType(String),
    /// A film without a usable `link`, or a serial without a single episode link.
    #[error("material has no usable player link")]
    NoUsableLink,
    /// `seasons` is not an object of objects keyed by season number.
    #[error("seasons has an unknown shape at season {0:?}")]
    BadSeason(String),
    /// An episode key that is not a number, or a value that is neither a link nor an
    /// object with a link.
    #[error("season {season} has an unreadable episode {episode:?}")]
    BadEpisode {
        /// The season number.
        season: i32,
        /// The episode key as the upstream wrote it.
        episode: String,
    },
    /// `blocked_seasons` is none of `{}`, `"all"`, `{"N": "all"}`, `{"N": [...]}`.
    #[error("blocked_seasons has an unknown shape")]
    BadBlockedSeasons,
}

/// Normalises one row of `results`.
pub fn normalise(row: &Value) -> Result<UpstreamMaterial, NormaliseError> {
    let row = row.as_object().ok_or(NormaliseError::NotAnObject)?;
    let empty = Map::new();
    let data = row
        .get("material_data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let material_id = text(row, "id").ok_or(NormaliseError::MissingId)?;
    let titles = titles(row, data);
    if titles.is_empty() {
        return Err(NormaliseError::MissingTitle);
    }
    let translation = translation(row)?;
    let upstream_type = text(row, "type");
    let episodes = episodes(row, upstream_type.as_deref())?;

    Ok(UpstreamMaterial {
        material_id,
        external_ids: external_ids(row),
        kind: kind(data, upstream_type.as_deref(), row.contains_key("seasons")),
        status: status(data),
        titles,
        year: integer(row, "year")
            .or_else(|| integer(data, "year"))
            .and_then(|year| i32::try_from(year).ok()),
        genres: genres(data),
        age_rating: text(data, "rating_mpaa").and_then(|rating| age_rating(&rating)),
        description: text(data, "anime_description")
            .or_else(|| text(data, "description"))
            .map(|description| decode(&description)),
        poster_url: text(data, "anime_poster_url")
            .or_else(|| text(data, "poster_url"))
            .and_then(|url| absolute_https(&url)),
        episodes_total: integer(data, "episodes_total")
            .filter(|total| *total > 0)
            .and_then(|total| i32::try_from(total).ok()),
        episodes_aired: integer(data, "episodes_aired")
            .filter(|aired| *aired >= 0)
            .and_then(|aired| i32::try_from(aired).ok()),
        aired_at: date(data, "aired_at"),
        next_episode_at: timestamp(data, "next_episode_at"),
        score: number(data, "shikimori_rating").filter(|score| (0.0..=10.0).contains(score)),
        popularity: integer(data, "shikimori_votes").filter(|votes| *votes >= 0),
        team: Some(translation.title.clone()),
        translation,
        quality: text(row, "quality"),
        camrip: row.get("camrip").and_then(Value::as_bool).unwrap_or(false),
        blocked_countries: text_list(row, "blocked_countries"),
        blocked_seasons: blocked_seasons(row.get("blocked_seasons"))?,
        updated_at: timestamp(row, "updated_at"),
        episodes,
    })
}

/// The material's `updated_at`, for checkpoints and incremental crawls, read even
/// from a row that does not normalise.
pub fn updated_at(row: &Value) -> Option<DateTime<Utc>> {
    row.as_object().and_then(|row| timestamp(row, "updated_at"))
}

/// The material's id, even from a row that does not normalise.
pub fn material_id(row: &Value) -> Option<String> {
    row.as_object().and_then(|row| text(row, "id"))
}

/// One absolute `https://` URL from any link form the upstream uses:
/// `//host/path`, `http://host/path`, `https://host/path`, a doubled scheme such as
/// `https:https://host/path`, or a bare `host/path`. `None` when no host is left.
pub fn absolute_https(link: &str) -> Option<String> {
    let mut rest = link.trim();
    loop {
        let lower = rest.get(..6).map(str::to_ascii_lowercase);
        if lower.as_deref() == Some("https:") {
            rest = &rest[6..];
        } else if lower
            .as_deref()
            .is_some_and(|prefix| prefix.starts_with("http:"))
        {
            rest = &rest[5..];
        } else {
            break;
        }
    }
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() || rest.contains("://") {
        return None;
    }
    let url = Url::parse(&format!("https://{rest}")).ok()?;
    let host = url.host_str()?;
    // A bare word is not a host: `link: "none"` must not become `https://none/`.
    if !host.contains('.') {
        return None;
    }
    Some(url.into())
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    let value = match map.get(key)? {
        Value::String(text) => text.trim().to_owned(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    (!value.is_empty()).then_some(value)
}

fn integer(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    match map.get(key)? {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
    .filter(|number: &f64| number.is_finite())
}

fn timestamp(map: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    let text = text(map, key)?;
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A calendar date, given alone (`2016-01-10`) or as the start of a timestamp.
fn date(map: &Map<String, Value>, key: &str) -> Option<NaiveDate> {
    let text = text(map, key)?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

fn text_list(map: &Map<String, Value>, key: &str) -> Vec<String> {
    match map.get(key) {
        Some(Value::Array(items)) => texts(items),
        _ => Vec::new(),
    }
}

/// The non-empty strings (or numbers, as text) of a JSON array.
fn texts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(text) => Some(text.trim().to_owned()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// Decodes HTML entities exactly once: `Gintama&#039;` → `Gintama'`, while
/// `&amp;amp;` → `&amp;` (the upstream's own double escaping is its data).
fn decode(text: &str) -> String {
    html_escape::decode_html_entities(text).trim().to_owned()
}

fn external_ids(row: &Map<String, Value>) -> ExternalIds {
    ExternalIds {
        shikimori: text(row, "shikimori_id"),
        kinopoisk: text(row, "kinopoisk_id"),
        imdb: text(row, "imdb_id"),
        mydramalist: text(row, "mdl_id"),
        worldart: text(row, "worldart_link"),
        upstream_material_ids: Vec::new(),
    }
}

fn translation(row: &Map<String, Value>) -> Result<Translation, NormaliseError> {
    let translation = row
        .get("translation")
        .and_then(Value::as_object)
        .ok_or(NormaliseError::MissingTranslation)?;
    let id = integer(translation, "id").ok_or(NormaliseError::MissingTranslation)?;
    let title = text(translation, "title")
        .map(|title| decode(&title))
        .filter(|title| !title.is_empty())
        .ok_or(NormaliseError::MissingTranslation)?;
    let kind = match text(translation, "type").as_deref() {
        Some("voice") => TranslationKind::Voice,
        Some("subtitles") => TranslationKind::Subtitles,
        Some(other) => return Err(NormaliseError::UnknownTranslationType(other.to_owned())),
        None => return Err(NormaliseError::MissingTranslation),
    };
    Ok(Translation { id, title, kind })
}

fn is_japanese_script(character: char) -> bool {
    matches!(character,
        '\u{3040}'..='\u{30FF}' // hiragana, katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{FF66}'..='\u{FF9F}') // half-width katakana
}

fn is_cyrillic(character: char) -> bool {
    matches!(character, '\u{0400}'..='\u{04FF}')
}

/// The language of a name whose field does not say: Japanese script, Cyrillic, or
/// `fallback` for Latin script (which may be English or romaji).
fn language_of(text: &str, fallback: TitleLanguage) -> TitleLanguage {
    if text.chars().any(is_japanese_script) {
        TitleLanguage::Ja
    } else if text.chars().any(is_cyrillic) {
        TitleLanguage::Ru
    } else {
        fallback
    }
}

/// Every name of the row, most authoritative first: the row's own `title` (Russian)
/// and `title_orig` (romaji), then `material_data`, then `other_title`.
fn titles(row: &Map<String, Value>, data: &Map<String, Value>) -> Vec<Title> {
    let mut titles: Vec<Title> = Vec::new();
    let mut push = |raw: &str, language: TitleLanguage, kind: TitleKind| {
        let text = decode(raw);
        if text.is_empty() || titles.iter().any(|title| title.text == text) {
            return;
        }
        titles.push(Title {
            text,
            language,
            kind,
        });
    };

    for key in ["title", "anime_title"] {
        if let Some(title) = text(row, key).or_else(|| text(data, key)) {
            push(
                &title,
                language_of(&title, TitleLanguage::Ru),
                TitleKind::Main,
            );
        }
    }
    if let Some(original) = text(row, "title_orig") {
        let language = language_of(&original, TitleLanguage::Romaji);
        push(&original, language, TitleKind::Main);
    }
    if let Some(english) = text(data, "title_en") {
        let language = language_of(&english, TitleLanguage::En);
        push(&english, language, TitleKind::Official);
    }
    for (key, fallback) in [
        ("other_titles", TitleLanguage::Ru),
        ("other_titles_en", TitleLanguage::En),
        ("other_titles_jp", TitleLanguage::Romaji),
    ] {
        for name in text_list(data, key) {
            push(
                &name,
                language_of(&name, fallback.clone()),
                TitleKind::Synonym,
            );
        }
    }
    if let Some(other) = text(row, "other_title") {
        for name in other.split(" / ") {
            push(
                name,
                language_of(name, TitleLanguage::En),
                TitleKind::Synonym,
            );
        }
    }
    titles
}

fn kind(data: &Map<String, Value>, upstream_type: Option<&str>, has_seasons: bool) -> ReleaseKind {
    let from_data = match text(data, "anime_kind").as_deref() {
        Some("tv" | "tv_13" | "tv_24" | "tv_48") => Some(ReleaseKind::Tv),
        Some("movie") => Some(ReleaseKind::Movie),
        Some("ova") => Some(ReleaseKind::Ova),
        Some("ona") => Some(ReleaseKind::Ona),
        Some("special") => Some(ReleaseKind::Special),
        Some("music") => Some(ReleaseKind::Music),
        _ => None,
    };
    from_data.unwrap_or(match upstream_type {
        Some(kind) if kind.ends_with("serial") => ReleaseKind::Tv,
        Some(_) => ReleaseKind::Movie,
        None if has_seasons => ReleaseKind::Tv,
        None => ReleaseKind::Movie,
    })
}

fn status(data: &Map<String, Value>) -> Option<ReleaseStatus> {
    let status = text(data, "anime_status").or_else(|| text(data, "all_status"))?;
    match status.as_str() {
        "anons" => Some(ReleaseStatus::Announced),
        "ongoing" => Some(ReleaseStatus::Ongoing),
        "released" => Some(ReleaseStatus::Released),
        _ => None,
    }
}

/// Anime genres when the row has them, else the general ones; lower-case, unique.
fn genres(data: &Map<String, Value>) -> Vec<String> {
    let mut source = text_list(data, "anime_genres");
    if source.is_empty() {
        source = text_list(data, "genres");
    }
    let mut genres: Vec<String> = Vec::new();
    for genre in source {
        let genre = decode(&genre).to_lowercase();
        if !genre.is_empty() && !genres.contains(&genre) {
            genres.push(genre);
        }
    }
    genres
}

fn age_rating(rating: &str) -> Option<AgeRating> {
    match rating
        .to_ascii_lowercase()
        .replace(['-', ' '], "_")
        .as_str()
    {
        "g" => Some(AgeRating::G),
        "pg" => Some(AgeRating::Pg),
        "pg_13" => Some(AgeRating::Pg13),
        "r" | "r_17" => Some(AgeRating::R),
        "r+" | "r_plus" => Some(AgeRating::RPlus),
        "rx" => Some(AgeRating::Rx),
        _ => None,
    }
}

fn blocked_seasons(value: Option<&Value>) -> Result<Vec<SeasonBlock>, NormaliseError> {
    let object = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(all)) if all == "all" => {
            return Ok(vec![SeasonBlock {
                season: None,
                episodes: None,
            }]);
        }
        Some(Value::Object(object)) => object,
        Some(_) => return Err(NormaliseError::BadBlockedSeasons),
    };
    let mut blocks = Vec::with_capacity(object.len());
    for (season, episodes) in object {
        let season: i32 = season
            .trim()
            .parse()
            .map_err(|_| NormaliseError::BadBlockedSeasons)?;
        let episodes = match episodes {
            Value::String(all) if all == "all" => None,
            Value::Array(items) => Some(texts(items)),
            _ => return Err(NormaliseError::BadBlockedSeasons),
        };
        blocks.push(SeasonBlock {
            season: Some(season),
            episodes,
        });
    }
    blocks.sort_by_key(|block| block.season);
    Ok(blocks)
}

/// Compares two episode numbers (`"2"`, `"10"`, `"6.5"`) by value.
fn by_number(left: &str, right: &str) -> Ordering {
    let left_value: f64 = left.parse().unwrap_or(f64::MAX);
    let right_value: f64 = right.parse().unwrap_or(f64::MAX);
    left_value.total_cmp(&right_value)
}

fn is_episode_number(key: &str) -> bool {
    !key.is_empty()
        && key.chars().all(|c| c.is_ascii_digit() || c == '.')
        && key.parse::<f64>().is_ok_and(f64::is_finite)
}

fn episodes(
    row: &Map<String, Value>,
    upstream_type: Option<&str>,
) -> Result<Vec<UpstreamEpisode>, NormaliseError> {
    let seasons = row.get("seasons").filter(|seasons| !seasons.is_null());
    let Some(seasons) = seasons.filter(|_| upstream_type != Some("anime")) else {
        let player_link = text(row, "link")
            .and_then(|link| absolute_https(&link))
            .ok_or(NormaliseError::NoUsableLink)?;
        return Ok(vec![UpstreamEpisode {
            season: 1,
            number: "1".to_owned(),
            title: None,
            player_link,
        }]);
    };
    let seasons = seasons
        .as_object()
        .ok_or_else(|| NormaliseError::BadSeason(String::new()))?;

    let mut numbered: Vec<(i32, &Map<String, Value>)> = Vec::with_capacity(seasons.len());
    for (key, season) in seasons {
        let number: i32 = key
            .trim()
            .parse()
            .map_err(|_| NormaliseError::BadSeason(key.clone()))?;
        let season = season
            .as_object()
            .ok_or_else(|| NormaliseError::BadSeason(key.clone()))?;
        numbered.push((number, season));
    }
    numbered.sort_by_key(|(number, _)| *number);

    let mut episodes = Vec::new();
    for (season_number, season) in numbered {
        // Only `episodes` count: the season's own `link` opens a season playlist, not
        // an episode, and must never be stored as one.
        let Some(season_episodes) = season.get("episodes") else {
            continue;
        };
        let season_episodes =
            season_episodes
                .as_object()
                .ok_or_else(|| NormaliseError::BadEpisode {
                    season: season_number,
                    episode: String::new(),
                })?;
        let mut keys: Vec<&String> = season_episodes.keys().collect();
        keys.sort_by(|left, right| by_number(left, right));
        for key in keys {
            let bad = || NormaliseError::BadEpisode {
                season: season_number,
                episode: key.clone(),
            };
            let number = key.trim();
            if !is_episode_number(number) {
                return Err(bad());
            }
            let (link, title) = match &season_episodes[key.as_str()] {
                Value::String(link) => (Some(link.clone()), None),
                Value::Object(episode) => (
                    text(episode, "link"),
                    text(episode, "title").map(|title| decode(&title)),
                ),
                _ => return Err(bad()),
            };
            let player_link = link
                .and_then(|link| absolute_https(&link))
                .ok_or_else(bad)?;
            episodes.push(UpstreamEpisode {
                season: season_number,
                number: number.to_owned(),
                title: title.filter(|title| !title.is_empty()),
                player_link,
            });
        }
    }
    if episodes.is_empty() {
        return Err(NormaliseError::NoUsableLink);
    }
    Ok(episodes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn serial(seasons: Value) -> Value {
        json!({
            "id": "serial-1",
            "type": "anime-serial",
            "link": "//kodik.info/serial/1/h/720p",
            "title": "Наруто",
            "title_orig": "Naruto",
            "other_title": "ナルト / NARUTO",
            "translation": {"id": 609, "title": "AniDUB", "type": "voice"},
            "year": 2002,
            "kinopoisk_id": "283290",
            "shikimori_id": "20",
            "mdl_id": "56743-mei-gui-qi-shi",
            "quality": "WEB-DLRip 720p",
            "camrip": false,
            "blocked_countries": [],
            "blocked_seasons": {},
            "updated_at": "2024-03-02T01:00:00Z",
            "seasons": seasons,
        })
    }

    fn numbers(material: &UpstreamMaterial, season: i32) -> Vec<&str> {
        material
            .episodes
            .iter()
            .filter(|episode| episode.season == season)
            .map(|episode| episode.number.as_str())
            .collect()
    }

    #[test]
    fn case_1_every_link_form_becomes_one_absolute_https_url() {
        assert_eq!(
            absolute_https("//kodik.info/serial/1/h/720p").as_deref(),
            Some("https://kodik.info/serial/1/h/720p")
        );
        assert_eq!(
            absolute_https("http://kodik.cc/serial/1/h/720p").as_deref(),
            Some("https://kodik.cc/serial/1/h/720p")
        );
        assert_eq!(
            absolute_https("https://kodikplayer.com/serial/1/h/720p").as_deref(),
            Some("https://kodikplayer.com/serial/1/h/720p")
        );
        assert_eq!(
            absolute_https("//aniqit.com/seria/2/abc/720p").as_deref(),
            Some("https://aniqit.com/seria/2/abc/720p")
        );
        assert_eq!(
            absolute_https("https:https://kodikplayer.com/video/8/h/720p").as_deref(),
            Some("https://kodikplayer.com/video/8/h/720p")
        );
        assert_eq!(
            absolute_https("HTTP://kodik.cc/x").as_deref(),
            Some("https://kodik.cc/x")
        );
        assert_eq!(absolute_https(""), None);
        assert_eq!(absolute_https("none"), None);
        assert_eq!(absolute_https("ftp://kodik.cc/x"), None);

        for link in [
            "//kodik.info/serial/1/h/720p",
            "http://kodik.cc/serial/1/h/720p",
            "https://kodikplayer.com/serial/1/h/720p",
        ] {
            let mut row = serial(json!({"1": {
                "link": link.replace("serial", "season"),
                "episodes": {"1": link.replace("serial", "seria")},
            }}));
            row["link"] = json!(link);
            let material = normalise(&row).expect("normalises");
            let episode_link = &material.episodes[0].player_link;
            assert!(episode_link.starts_with("https://"), "{episode_link}");
            assert!(!episode_link.contains("https:https:"), "{episode_link}");
            assert_eq!(episode_link.matches("://").count(), 1);
        }
    }

    #[test]
    fn case_3_specials_in_season_0_are_kept_beside_season_1() {
        let material = normalise(&serial(json!({
            "1": {"link": "//kodik.info/season/65/a/720p", "episodes": {
                "1": {"link": "//kodik.info/seria/4100/a/720p"},
                "2": {"link": "//kodik.info/seria/4101/a/720p"},
            }},
            "0": {"link": "//kodik.info/season/64/a/720p", "title": "Спецвыпуски", "episodes": {
                "1": {"link": "//kodik.info/seria/4096/a/720p"},
                "2": {"link": "//kodik.info/seria/4097/a/720p"},
                "3": {"link": "//kodik.info/seria/4098/a/720p"},
                "4": {"link": "//kodik.info/seria/4099/a/720p"},
            }},
        })))
        .expect("normalises");

        assert_eq!(numbers(&material, 0), ["1", "2", "3", "4"]);
        assert_eq!(numbers(&material, 1), ["1", "2"]);
        assert_eq!(material.episodes[0].season, 0, "specials sort first");
        assert_eq!(
            material.episodes[0].player_link,
            "https://kodik.info/seria/4096/a/720p"
        );
        assert!(
            material
                .episodes
                .iter()
                .all(|episode| !episode.player_link.contains("/season/")),
            "a season link is never an episode link"
        );
    }

    #[test]
    fn a_later_season_alone_keeps_its_number() {
        let material = normalise(&serial(json!({
            "4": {"link": "//kodik.info/season/176/a/720p", "episodes": {
                "1": "//kodik.info/seria/1/a/720p",
            }},
        })))
        .expect("normalises");
        assert_eq!(material.episodes[0].season, 4);
    }

    #[test]
    fn case_4_episode_keys_sort_numerically_and_gaps_stay_gaps() {
        let material = normalise(&serial(json!({"1": {
            "link": "//kodik.info/season/80/a/720p",
            "episodes": {
                "1": {"link": "//kodik.info/seria/5120/a/720p"},
                "10": {"link": "//kodik.info/seria/5122/a/720p"},
                "2": {"link": "//kodik.info/seria/5121/a/720p"},
                "6.5": "//kodik.info/seria/5123/a/720p",
            },
        }})))
        .expect("normalises");
        assert_eq!(numbers(&material, 1), ["1", "2", "6.5", "10"]);

        let episodes: Map<String, Value> = (1..=170)
            .filter(|n| !(116..=127).contains(n))
            .map(|n| {
                (
                    n.to_string(),
                    json!(format!("//kodik.info/seria/{n}/a/720p")),
                )
            })
            .collect();
        let material = normalise(&serial(json!({"1": {
            "link": "//kodik.info/season/96/a/720p",
            "episodes": episodes,
        }})))
        .expect("normalises");
        assert_eq!(material.episodes.len(), 158);
        let present: Vec<u32> = material
            .episodes
            .iter()
            .map(|episode| episode.number.parse().expect("whole numbers"))
            .collect();
        let expected: Vec<u32> = (1..=170).filter(|n| !(116..=127).contains(n)).collect();
        assert_eq!(present, expected);
    }

    #[test]
    fn case_5_link_strings_and_objects_mix_in_one_season() {
        let material = normalise(&serial(json!({"1": {
            "link": "//kodik.info/season/112/a/720p",
            "episodes": {
                "1": "//kodik.info/seria/7168/a/720p",
                "2": {
                    "link": "//kodik.info/seria/7169/a/720p",
                    "title": "Серия 2",
                    "screenshots": ["https://i.kodik.biz/screenshots/seria/7169/1.jpg"],
                },
                "3": "//kodik.info/seria/7170/a/720p",
            },
        }})))
        .expect("normalises");
        assert_eq!(
            material.episodes,
            vec![
                UpstreamEpisode {
                    season: 1,
                    number: "1".to_owned(),
                    title: None,
                    player_link: "https://kodik.info/seria/7168/a/720p".to_owned(),
                },
                UpstreamEpisode {
                    season: 1,
                    number: "2".to_owned(),
                    title: Some("Серия 2".to_owned()),
                    player_link: "https://kodik.info/seria/7169/a/720p".to_owned(),
                },
                UpstreamEpisode {
                    season: 1,
                    number: "3".to_owned(),
                    title: None,
                    player_link: "https://kodik.info/seria/7170/a/720p".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn case_6_a_film_is_season_1_episode_1_with_the_material_link() {
        let film = json!({
            "id": "movie-8",
            "type": "anime",
            "link": "//kodik.info/video/8/h/720p",
            "title": "Наруто 9: Путь ниндзя",
            "title_orig": "Road to Ninja: Naruto the Movie",
            "translation": {"id": 1002, "title": "Flarrow Films", "type": "voice"},
            "year": 2012,
            "shikimori_id": "13667",
            "quality": "BDRip 720p",
            "camrip": false,
            "blocked_countries": [],
            "updated_at": "2024-03-09T08:00:00Z",
            "material_data": {"anime_kind": "movie"},
        });
        let material = normalise(&film).expect("normalises");
        assert_eq!(material.kind, ReleaseKind::Movie);
        assert_eq!(
            material.episodes,
            vec![UpstreamEpisode {
                season: 1,
                number: "1".to_owned(),
                title: None,
                player_link: "https://kodik.info/video/8/h/720p".to_owned(),
            }]
        );
        assert!(material.blocked_seasons.is_empty());
    }

    #[test]
    fn case_11_ids_are_strings_and_absent_keys_stay_absent() {
        let material = normalise(&serial(json!({"1": {
            "link": "//kodik.info/season/16/a/720p",
            "episodes": {"1": "//kodik.info/seria/1/a/720p"},
        }})))
        .expect("normalises");
        assert_eq!(material.material_id, "serial-1");
        assert_eq!(
            material.external_ids,
            ExternalIds {
                shikimori: Some("20".to_owned()),
                kinopoisk: Some("283290".to_owned()),
                imdb: None,
                mydramalist: Some("56743-mei-gui-qi-shi".to_owned()),
                worldart: None,
                upstream_material_ids: Vec::new(),
            }
        );
        let json = serde_json::to_value(&material).expect("serialises");
        assert!(
            json["external_ids"].get("imdb").is_none(),
            "absent, not null"
        );
    }

    #[test]
    fn translation_titles_and_facts_are_read_from_the_row_and_material_data() {
        let mut row = serial(json!({"1": {"episodes": {"1": "//kodik.info/seria/1/a/720p"}}}));
        row["title_orig"] = json!("Gintama&#039;");
        row["other_title"] = json!("Tiger &amp;amp; Bunny / 銀魂 / Gintama");
        row["translation"] = json!({"id": 869, "title": "Субтитры", "type": "subtitles"});
        row["material_data"] = json!({
            "title_en": "Gintama'",
            "other_titles_jp": ["ぎんたま"],
            "anime_kind": "tv_24",
            "anime_status": "anons",
            "anime_genres": ["Экшен", "Комедия", "экшен"],
            "rating_mpaa": "PG-13",
            "shikimori_rating": 9.04,
            "shikimori_votes": 1234,
            "episodes_total": 0,
            "episodes_aired": 3,
            "aired_at": "2015-04-08",
            "anime_poster_url": "//shikimori.one/poster.jpg",
        });
        let material = normalise(&row).expect("normalises");

        assert_eq!(
            material.translation,
            Translation {
                id: 869,
                title: "Субтитры".to_owned(),
                kind: TranslationKind::Subtitles,
            }
        );
        assert_eq!(material.team.as_deref(), Some("Субтитры"));
        let titles: Vec<(&str, &TitleLanguage, TitleKind)> = material
            .titles
            .iter()
            .map(|title| (title.text.as_str(), &title.language, title.kind))
            .collect();
        assert_eq!(
            titles,
            [
                ("Наруто", &TitleLanguage::Ru, TitleKind::Main),
                ("Gintama'", &TitleLanguage::Romaji, TitleKind::Main),
                ("ぎんたま", &TitleLanguage::Ja, TitleKind::Synonym),
                ("Tiger &amp; Bunny", &TitleLanguage::En, TitleKind::Synonym),
                ("銀魂", &TitleLanguage::Ja, TitleKind::Synonym),
                ("Gintama", &TitleLanguage::En, TitleKind::Synonym),
            ]
        );
        assert_eq!(material.kind, ReleaseKind::Tv);
        assert_eq!(material.status, Some(ReleaseStatus::Announced));
        assert_eq!(material.genres, ["экшен", "комедия"]);
        assert_eq!(material.age_rating, Some(AgeRating::Pg13));
        assert_eq!(material.score, Some(9.04));
        assert_eq!(material.popularity, Some(1234));
        assert_eq!(material.episodes_total, None, "0 means unknown");
        assert_eq!(material.aired_at, NaiveDate::from_ymd_opt(2015, 4, 8));
        assert_eq!(material.episodes_aired, Some(3));
        assert_eq!(
            material.poster_url.as_deref(),
            Some("https://shikimori.one/poster.jpg")
        );
    }

    #[test]
    fn blocked_seasons_in_every_form() {
        assert_eq!(blocked_seasons(Some(&json!({}))), Ok(vec![]));
        assert_eq!(
            blocked_seasons(Some(&json!("all"))),
            Ok(vec![SeasonBlock {
                season: None,
                episodes: None
            }])
        );
        assert_eq!(
            blocked_seasons(Some(&json!({"1": "all"}))),
            Ok(vec![SeasonBlock {
                season: Some(1),
                episodes: None
            }])
        );
        assert_eq!(
            blocked_seasons(Some(&json!({"2": ["3", "4"]}))),
            Ok(vec![SeasonBlock {
                season: Some(2),
                episodes: Some(vec!["3".to_owned(), "4".to_owned()])
            }])
        );
        assert_eq!(
            blocked_seasons(Some(&json!(["1"]))),
            Err(NormaliseError::BadBlockedSeasons)
        );
    }

    #[test]
    fn materials_that_cannot_be_imported_say_why() {
        let no_link = json!({
            "id": "movie-9", "type": "anime", "title": "Фильм",
            "translation": {"id": 1, "title": "Team", "type": "voice"},
        });
        assert_eq!(normalise(&no_link), Err(NormaliseError::NoUsableLink));

        let mut no_title = serial(json!({"1": {"episodes": {"1": "//kodik.info/seria/1/a"}}}));
        let object = no_title.as_object_mut().expect("an object");
        object.remove("title");
        object.remove("title_orig");
        object.remove("other_title");
        assert_eq!(normalise(&no_title), Err(NormaliseError::MissingTitle));

        let bad_episode = serial(json!({"1": {"episodes": {"1": 42}}}));
        assert_eq!(
            normalise(&bad_episode),
            Err(NormaliseError::BadEpisode {
                season: 1,
                episode: "1".to_owned()
            })
        );
        let only_season_links = serial(json!({"1": {"link": "//kodik.info/season/1/a"}}));
        assert_eq!(
            normalise(&only_season_links),
            Err(NormaliseError::NoUsableLink)
        );
        assert_eq!(normalise(&json!([1])), Err(NormaliseError::NotAnObject));
    }
}
