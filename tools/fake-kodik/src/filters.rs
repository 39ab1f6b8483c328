//! The filter parameters shared by `/list`, `/search` and the facet endpoints, and
//! which materials they select.

use crate::{
    api::ApiError,
    catalogue::Kind,
    model::{Material, Work},
    params::Params,
    translations::TranslationType,
};

/// Every `types` value upstream knows. Only the two anime types have rows here; the
/// others are valid and simply select nothing.
pub const TYPES: [&str; 12] = [
    "anime",
    "anime-serial",
    "foreign-movie",
    "foreign-serial",
    "russian-movie",
    "russian-serial",
    "foreign-cartoon",
    "russian-cartoon",
    "soviet-cartoon",
    "cartoon-serial",
    "documentary-serial",
    "multi-part-film",
];

/// An inclusive numeric range from `8-10`, or `8` meaning "8 and up".
#[derive(Debug, Clone, Copy)]
struct Range(f64, f64);

impl Range {
    fn parse(text: &str) -> Option<Self> {
        match text.split_once('-') {
            Some((low, high)) => Some(Self(low.trim().parse().ok()?, high.trim().parse().ok()?)),
            None => Some(Self(text.trim().parse().ok()?, f64::INFINITY)),
        }
    }

    fn contains(self, value: f64) -> bool {
        self.0 <= value && value <= self.1
    }
}

/// The parsed filters of one request; `None` means "not filtered".
#[derive(Debug, Default)]
pub struct Filters {
    types: Option<Vec<String>>,
    years: Option<Vec<(u16, u16)>>,
    translation_ids: Option<Vec<u32>>,
    translation_type: Option<TranslationType>,
    camrip: Option<bool>,
    lgbt: Option<bool>,
    anime_kinds: Option<Vec<String>>,
    anime_statuses: Option<Vec<String>>,
    genres: Option<Vec<String>>,
    anime_genres: Option<Vec<String>>,
    rating_mpaa: Option<Vec<String>>,
    minimal_age: Option<Vec<(u16, u16)>>,
    not_blocked_in: Option<Vec<String>>,
    shikimori_rating: Option<Range>,
    kinopoisk_rating: Option<Range>,
    imdb_rating: Option<Range>,
}

fn owned_list(p: &Params, key: &str) -> Option<Vec<String>> {
    p.list(key)
        .map(|items| items.iter().map(|s| s.to_lowercase()).collect())
}

/// `2019`, `2015-2019` or a comma list of either; unreadable items are skipped.
fn spans(p: &Params, key: &str) -> Option<Vec<(u16, u16)>> {
    let items = p.list(key)?;
    Some(
        items
            .iter()
            .filter_map(|item| match item.split_once('-') {
                Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
                None => item.parse().ok().map(|y| (y, y)),
            })
            .collect(),
    )
}

impl Filters {
    /// Reads the filters; an unknown `types` value is an error, as upstream.
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        let types = owned_list(p, "types");
        if let Some(types) = &types
            && types.iter().any(|t| !TYPES.contains(&t.as_str()))
        {
            return Err(ApiError::BadType);
        }
        Ok(Self {
            types,
            years: spans(p, "year"),
            translation_ids: p
                .list("translation_id")
                .map(|ids| ids.iter().filter_map(|id| id.parse().ok()).collect()),
            translation_type: match p.get("translation_type") {
                Some("voice") => Some(TranslationType::Voice),
                Some("subtitles") => Some(TranslationType::Subtitles),
                _ => None,
            },
            camrip: p.bool("camrip"),
            lgbt: p.bool("lgbt"),
            anime_kinds: owned_list(p, "anime_kind"),
            anime_statuses: owned_list(p, "anime_status"),
            genres: owned_list(p, "genres"),
            anime_genres: owned_list(p, "anime_genres"),
            rating_mpaa: owned_list(p, "rating_mpaa"),
            minimal_age: spans(p, "minimal_age"),
            not_blocked_in: p
                .list("not_blocked_in")
                .map(|c| c.iter().map(|s| s.to_uppercase()).collect()),
            shikimori_rating: p.get("shikimori_rating").and_then(Range::parse),
            kinopoisk_rating: p.get("kinopoisk_rating").and_then(Range::parse),
            imdb_rating: p.get("imdb_rating").and_then(Range::parse),
        })
    }

    /// Whether a material passes every filter given.
    pub fn matches(&self, m: &Material, w: &Work) -> bool {
        let facts = &w.facts;
        let any_of = |wanted: &Option<Vec<String>>, have: &[String]| {
            wanted
                .as_ref()
                .is_none_or(|wanted| wanted.iter().any(|g| have.contains(g)))
        };
        let in_range = |range: Option<Range>, value: Option<f64>| {
            range.is_none_or(|r| value.is_some_and(|v| r.contains(v)))
        };
        self.types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == m.kind()))
            && self
                .years
                .as_ref()
                .is_none_or(|ys| ys.iter().any(|(a, b)| (*a..=*b).contains(&w.year)))
            && self
                .translation_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&m.translation.id))
            && self
                .translation_type
                .is_none_or(|t| t == m.translation.kind)
            && self.camrip.is_none_or(|c| c == m.camrip)
            && self.lgbt.is_none_or(|l| l == m.lgbt)
            && self.anime_kinds.as_ref().is_none_or(|kinds| {
                kinds.iter().any(|k| {
                    k == facts.kind.as_str() || (facts.kind == Kind::Tv && k.starts_with("tv_"))
                })
            })
            && self
                .anime_statuses
                .as_ref()
                .is_none_or(|s| s.iter().any(|s| s == facts.status.as_str()))
            && any_of(&self.genres, &facts.genres)
            && any_of(&self.anime_genres, &facts.anime_genres)
            && self.rating_mpaa.as_ref().is_none_or(|r| {
                facts
                    .rating_mpaa
                    .is_some_and(|have| r.iter().any(|x| x.eq_ignore_ascii_case(have)))
            })
            && self.minimal_age.as_ref().is_none_or(|spans| {
                facts
                    .minimal_age
                    .is_some_and(|age| spans.iter().any(|(a, b)| (*a..=*b).contains(&age.into())))
            })
            && self
                .not_blocked_in
                .as_ref()
                .is_none_or(|c| !m.blocked_countries.iter().any(|b| c.iter().any(|x| x == b)))
            && in_range(self.shikimori_rating, facts.shikimori_rating)
            && in_range(self.kinopoisk_rating, facts.kinopoisk_rating)
            && in_range(self.imdb_rating, facts.imdb_rating)
    }
}
