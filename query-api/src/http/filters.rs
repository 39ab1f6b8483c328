//! The query parameters the catalogue list and search share: filters, sort, paging,
//! and the opaque keyset cursor. Every rule is checked here, so a bad value is a 400
//! `invalid-parameter` naming the parameter, never a 500 further down.

#![expect(
    clippy::result_large_err,
    reason = "Problem is the single error shape of the API, built only on the error path"
)]

use platform::http::Problem;
use salvo::Request;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most items per page.
pub const MAX_LIMIT: i64 = 100;
/// Items per page by default.
pub const DEFAULT_LIMIT: i64 = 20;

const KINDS: &[&str] = &["tv", "movie", "ova", "ona", "special", "music"];
const STATUSES: &[&str] = &["announced", "ongoing", "released"];
const AGE_RATINGS: &[&str] = &["g", "pg", "pg13", "r", "r_plus", "rx"];
const TRANSLATION_TYPES: &[&str] = &["voice", "subtitles"];
const SEASONS: &[&str] = &["winter", "spring", "summer", "fall"];

/// Filters of a list or search. Each list is an any-of, except `genres` (all of).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Filters {
    pub kinds: Vec<String>,
    pub statuses: Vec<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    /// `(season, year)`, e.g. `("winter", 2016)`.
    pub season: Option<(String, i32)>,
    pub genres: Vec<String>,
    pub exclude_genres: Vec<String>,
    pub age_ratings: Vec<String>,
    pub translation_type: Option<String>,
    pub team: Option<String>,
}

/// What a list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    Popularity,
    Score,
    Year,
    Updated,
    Title,
}

impl SortField {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "popularity" => Self::Popularity,
            "score" => Self::Score,
            "year" => Self::Year,
            "updated" => Self::Updated,
            "title" => Self::Title,
            _ => return None,
        })
    }
}

/// A sort field and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

/// Where the previous page ended: the sort and the last item's sort value and id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cursor {
    pub sort: Sort,
    pub value: String,
    pub id: Uuid,
}

impl Cursor {
    /// The opaque text handed to clients (hex of a small JSON document).
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        json.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn decode(text: &str) -> Option<Self> {
        if !text.len().is_multiple_of(2) || text.len() > 2048 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
            .collect();
        serde_json::from_slice(&bytes?).ok()
    }
}

fn invalid(name: &str, detail: String) -> Problem {
    Problem::invalid_parameter(name, detail)
}

/// The comma-separated values of `name`, each checked against `allowed` if given.
fn list(req: &Request, name: &str, allowed: Option<&[&str]>) -> Result<Vec<String>, Problem> {
    let Some(text) = req.query::<String>(name) else {
        return Ok(Vec::new());
    };
    let mut values = Vec::new();
    for value in text
        .split(',')
        .map(str::trim)
        .filter(|value| !value.is_empty())
    {
        if value.chars().count() > 100 {
            return Err(invalid(name, format!("a value of {name} is too long")));
        }
        let value = value.to_lowercase();
        if let Some(allowed) = allowed
            && !allowed.contains(&value.as_str())
        {
            return Err(invalid(
                name,
                format!("{name} must be among {}", allowed.join(", ")),
            ));
        }
        values.push(value);
    }
    if values.len() > 20 {
        return Err(invalid(name, format!("at most 20 values of {name}")));
    }
    Ok(values)
}

/// An integer parameter within `min..=max`.
pub fn integer(req: &Request, name: &str, min: i64, max: i64) -> Result<Option<i64>, Problem> {
    let Some(text) = req.query::<String>(name) else {
        return Ok(None);
    };
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|value| (min..=max).contains(value))
        .map(Some)
        .ok_or_else(|| {
            invalid(
                name,
                format!("{name} must be an integer from {min} to {max}"),
            )
        })
}

impl Filters {
    /// Reads the filters of a request.
    pub fn parse(req: &Request) -> Result<Self, Problem> {
        let year_from = integer(req, "year_from", 1900, 2100)?.map(|year| year as i32);
        let year_to = integer(req, "year_to", 1900, 2100)?.map(|year| year as i32);
        if let (Some(from), Some(to)) = (year_from, year_to)
            && from > to
        {
            return Err(invalid(
                "year_from",
                "year_from must not exceed year_to".to_owned(),
            ));
        }
        let season = match req.query::<String>("season") {
            None => None,
            Some(text) => Some(parse_season(&text).ok_or_else(|| {
                invalid(
                    "season",
                    "season must look like winter_2016 (winter, spring, summer or fall)".to_owned(),
                )
            })?),
        };
        let translation_type = list(req, "translation_type", Some(TRANSLATION_TYPES))?;
        if translation_type.len() > 1 {
            return Err(invalid(
                "translation_type",
                "give one translation_type".to_owned(),
            ));
        }
        let team = req
            .query::<String>("team")
            .map(|team| team.trim().to_owned())
            .filter(|team| !team.is_empty());
        if team.as_ref().is_some_and(|team| team.chars().count() > 100) {
            return Err(invalid("team", "team is too long".to_owned()));
        }
        Ok(Self {
            kinds: list(req, "kind", Some(KINDS))?,
            statuses: list(req, "status", Some(STATUSES))?,
            year_from,
            year_to,
            season,
            genres: list(req, "genres", None)?,
            exclude_genres: list(req, "exclude_genres", None)?,
            age_ratings: list(req, "age_rating", Some(AGE_RATINGS))?,
            translation_type: translation_type.into_iter().next(),
            team,
        })
    }
}

fn parse_season(text: &str) -> Option<(String, i32)> {
    let (season, year) = text
        .trim()
        .to_lowercase()
        .split_once('_')
        .map(|(season, year)| (season.to_owned(), year.to_owned()))?;
    let year: i32 = year
        .parse()
        .ok()
        .filter(|year| (1900..=2100).contains(year))?;
    SEASONS.contains(&season.as_str()).then_some((season, year))
}

/// Reads `sort` and `order`; `None` when no sort was asked for.
pub fn sort(req: &Request) -> Result<Option<Sort>, Problem> {
    let field = match req.query::<String>("sort") {
        None => None,
        Some(text) => Some(SortField::parse(text.trim()).ok_or_else(|| {
            invalid(
                "sort",
                "sort must be popularity, score, year, updated or title".to_owned(),
            )
        })?),
    };
    let descending = match req.query::<String>("order").as_deref().map(str::trim) {
        None => None,
        Some("desc") => Some(true),
        Some("asc") => Some(false),
        Some(_) => return Err(invalid("order", "order must be asc or desc".to_owned())),
    };
    Ok(field.map(|field| Sort {
        field,
        // Titles read naturally A to Z; every other measure best first.
        descending: descending.unwrap_or(field != SortField::Title),
    }))
}

/// Reads `limit` (1 to `max`, default `default`).
pub fn limit(req: &Request, default: i64, max: i64) -> Result<i64, Problem> {
    Ok(integer(req, "limit", 1, max)?.unwrap_or(default))
}

/// Reads `cursor`, which must have been made for `sort`.
pub fn cursor(req: &Request, sort: Sort) -> Result<Option<Cursor>, Problem> {
    let Some(text) = req.query::<String>("cursor") else {
        return Ok(None);
    };
    let cursor = Cursor::decode(text.trim())
        .ok_or_else(|| invalid("cursor", "the cursor is malformed".to_owned()))?;
    if cursor.sort != sort {
        return Err(invalid(
            "cursor",
            "the cursor belongs to another sort order".to_owned(),
        ));
    }
    // A cursor is opaque but not trusted: its value must fit the sort column's type,
    // or the database would reject the query.
    let value = cursor.value.as_str();
    let fits = match sort.field {
        SortField::Popularity => value.parse::<i64>().is_ok(),
        SortField::Score => value.parse::<f64>().is_ok_and(f64::is_finite),
        SortField::Year => value.parse::<i32>().is_ok(),
        // PostgreSQL's text form of a timestamptz, e.g. `2026-12-04 17:37:52.93+00`.
        SortField::Updated => {
            chrono::DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok()
        }
        SortField::Title => !value.contains('\0'),
    };
    if !fits {
        return Err(invalid("cursor", "the cursor is malformed".to_owned()));
    }
    Ok(Some(cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            sort: Sort {
                field: SortField::Score,
                descending: true,
            },
            value: "7.5".to_owned(),
            id: Uuid::nil(),
        };
        let decoded = Cursor::decode(&cursor.encode()).expect("decodes");
        assert_eq!(decoded.value, "7.5");
        assert!(Cursor::decode("zz").is_none());
        assert!(
            chrono::DateTime::parse_from_str(
                "2026-12-04 17:37:52.934744+00",
                "%Y-%m-%d %H:%M:%S%.f%#z"
            )
            .is_ok()
        );
        assert!(Cursor::decode("abc").is_none());
    }

    #[test]
    fn seasons_parse() {
        assert_eq!(
            parse_season("winter_2016"),
            Some(("winter".to_owned(), 2016))
        );
        assert_eq!(parse_season("autumn_2016"), None);
        assert_eq!(parse_season("winter_-1"), None);
    }
}
