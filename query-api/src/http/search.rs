//! `/v1/search` and `/v1/suggest`: full-text search and autocomplete over the search
//! engine. Without the engine both answer 503 `search-unavailable` with `Retry-After`;
//! the catalogue routes keep working from the read model.

#![expect(
    clippy::result_large_err,
    reason = "Problem is the single error shape of the API, built only on the error path"
)]

use std::{borrow::Cow, collections::BTreeMap};

use platform::{http::Problem, text::mend_lookalikes};
use salvo::{Depot, Request, Response, handler, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    catalog::state,
    conditional::write_json,
    filters::{self, DEFAULT_LIMIT, Filters, MAX_LIMIT},
};
use crate::search::{IndexedName, SearchError, SearchHitSource, Terms, folded, folds_to_prefix};

/// Longest query text, in characters.
const MAX_QUERY_CHARS: usize = 200;
/// Deepest result reachable by `offset`.
const MAX_OFFSET: i64 = 1000;
/// Most suggestions per request.
const MAX_SUGGESTIONS: i64 = 20;

/// The `q` parameter, trimmed, with whitespace runs collapsed and Latin look-alikes
/// in Cyrillic words made Cyrillic (as the indexer does with names).
fn query_text(req: &Request) -> Result<String, Problem> {
    let raw = req.query::<String>("q").unwrap_or_default();
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(Problem::invalid_parameter("q", "q must not be empty"));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(Problem::invalid_parameter(
            "q",
            format!("q must not exceed {MAX_QUERY_CHARS} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Problem::invalid_parameter(
            "q",
            "q must not contain control characters",
        ));
    }
    if let Cow::Owned(mended) = mend_lookalikes(&text) {
        return Ok(mended);
    }
    Ok(text)
}

fn search_problem(error: &SearchError) -> Problem {
    match error {
        SearchError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "search engine unavailable");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "search-unavailable",
                "Search unavailable",
            )
            .detail(
                "search is temporarily unavailable; the catalogue still answers at /v1/releases",
            )
            .retry_after(10)
        }
        SearchError::Rejected(detail) => {
            tracing::error!(error = %detail, "search query rejected");
            Problem::internal()
        }
    }
}

/// A search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    /// Release id.
    pub id: Uuid,
    /// Main title.
    pub title: String,
    /// Kind.
    pub kind: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Start year.
    pub year: Option<i32>,
    /// Airing season, e.g. `winter_2016`.
    pub season: Option<String>,
    /// Genres.
    pub genres: Vec<String>,
    /// Score.
    pub score: Option<f64>,
    /// Popularity.
    pub popularity: Option<i64>,
    /// Poster URL.
    pub poster_url: Option<String>,
    /// Matching names with the matched words in `<em>`, by language field.
    #[schema(example = json!({ "romaji": ["<em>Full</em> <em>Metal</em> <em>Panic</em>!"] }))]
    pub highlights: BTreeMap<String, Vec<String>>,
}

/// One facet value.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetCount {
    /// The value.
    pub value: String,
    /// Matching releases with it.
    pub count: i64,
}

/// Counts of matching releases per value.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Facets {
    /// Per genre.
    pub genres: Vec<FacetCount>,
    /// Per kind.
    pub kinds: Vec<FacetCount>,
    /// Per start year, newest first.
    pub years: Vec<FacetCount>,
    /// Per status.
    pub statuses: Vec<FacetCount>,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Matching releases in total.
    pub total: i64,
    /// This page of hits.
    pub items: Vec<SearchHit>,
    /// Facet counts over every match.
    pub facets: Facets,
}

fn hit_of(hit: SearchHitSource) -> Option<SearchHit> {
    let source = hit.source;
    let highlights = hit
        .highlight
        .unwrap_or_default()
        .into_iter()
        .map(|(field, fragments)| (field.trim_start_matches("title_").to_owned(), fragments))
        .collect();
    Some(SearchHit {
        id: source.release_id.parse().ok()?,
        title: source.main_title.unwrap_or_default(),
        kind: source.kind,
        status: source.status,
        year: source.year.map(|year| year as i32),
        season: source.season,
        genres: source.genres.unwrap_or_default(),
        score: source.score,
        popularity: source.popularity,
        poster_url: source.poster_url,
        highlights,
    })
}

fn facet(terms: Terms) -> Vec<FacetCount> {
    terms
        .buckets
        .into_iter()
        .map(|bucket| FacetCount {
            value: bucket.key.into_text(),
            count: bucket.doc_count,
        })
        .collect()
}

/// Full-text search over every name of every release.
#[utoipa::path(
    get,
    path = "/v1/search",
    tag = "search",
    description = "Searches every name of every release (Russian, English, romaji, Japanese, \
        synonyms), tolerant of case, diacritics, ё/е, romaji long vowels, punctuation and typos. \
        The text is searched as plain text: no query syntax.\n\n\
        **Order.** Without `sort`, results are in relevance order (a query equal to a whole \
        title comes first; popularity breaks near ties). With `sort`, the sort wins and \
        relevance only breaks ties.\n\n\
        Takes the same filters as `/v1/releases`. Facet counts cover every match.",
    params(
        ("q" = String, Query, description = "Search text, 1 to 200 characters", example = "стальная тревога"),
        ("kind" = Option<String>, Query, description = "Comma-separated kinds"),
        ("status" = Option<String>, Query, description = "Comma-separated statuses"),
        ("year_from" = Option<i32>, Query, description = "Earliest start year", minimum = 1900, maximum = 2100),
        ("year_to" = Option<i32>, Query, description = "Latest start year", minimum = 1900, maximum = 2100),
        ("season" = Option<String>, Query, description = "Airing season, `<winter|spring|summer|fall>_<year>`; winter runs from December (of the year before) to February", example = "winter_2016"),
        ("genres" = Option<String>, Query, description = "Comma-separated genres, all required"),
        ("exclude_genres" = Option<String>, Query, description = "Comma-separated genres, none allowed"),
        ("age_rating" = Option<String>, Query, description = "Comma-separated age ratings"),
        ("translation_type" = Option<String>, Query, description = "voice or subtitles"),
        ("team" = Option<String>, Query, description = "A translation team"),
        ("sort" = Option<String>, Query, description = "popularity, score, year, updated or title; absent = relevance. Releases without the value come last in either order"),
        ("order" = Option<String>, Query, description = "asc or desc"),
        ("limit" = Option<i64>, Query, description = "Hits per page, 1 to 100, default 20", minimum = 1, maximum = 100),
        ("offset" = Option<i64>, Query, description = "Hits to skip, 0 to 1000", minimum = 0, maximum = 1000),
    ),
    responses(
        (status = 200, description = "Search results", body = SearchResults),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Invalid parameter (empty or over-long q, unknown enum value, limit over 100, ...)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The search engine is down; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn search(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let text = query_text(req)?;
    let filters = Filters::parse(req)?;
    let sort = filters::sort(req)?;
    let limit = filters::limit(req, DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = filters::integer(req, "offset", 0, MAX_OFFSET)?.unwrap_or(0);

    let answer = state
        .search
        .search(&text, &filters, sort, offset, limit)
        .await
        .map_err(|error| search_problem(&error))?;
    let facets = answer.aggregations;
    let results = SearchResults {
        total: answer.hits.total.map_or(0, |total| total.value),
        items: answer.hits.hits.into_iter().filter_map(hit_of).collect(),
        facets: Facets {
            genres: facet(facets.genres),
            kinds: facet(facets.kinds),
            years: facet(facets.years),
            statuses: facet(facets.statuses),
        },
    };
    let body = serde_json::to_vec(&results).map_err(|_| Problem::internal())?;
    write_json(req, res, body, "public, max-age=30");
    Ok(())
}

/// One autocomplete item.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019aeb40-1111-7000-8000-000000000001", "matched_title": "Стальная тревога",
    "matched_language": "ru", "title": "Full Metal Panic!", "kind": "tv", "year": 2002,
    "poster_url": "https://example.org/posters/71.jpg"
}))]
pub struct Suggestion {
    /// Release id.
    pub id: Uuid,
    /// The name that matched what was typed.
    pub matched_title: String,
    /// Its language (`ru`, `en`, `romaji`, `ja` or another code).
    pub matched_language: String,
    /// The main title.
    pub title: String,
    /// Kind.
    pub kind: Option<String>,
    /// Start year.
    pub year: Option<i32>,
    /// Poster URL.
    pub poster_url: Option<String>,
}

/// Suggestions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// Best first.
    pub items: Vec<Suggestion>,
}

/// The name of `titles` that best explains the match: one starting with the query,
/// else one containing each typed word's start, else the main title. Returns the name
/// and its language.
fn matched_title<'a>(query: &str, titles: &'a [IndexedName], main: &'a str) -> (&'a str, &'a str) {
    let query_folded = folded(query);
    // Most names differ from the query within a character or two: compare while
    // folding, and fold a whole name only when no name starts with the query.
    if let Some(name) = titles
        .iter()
        .find(|name| folds_to_prefix(&name.text, &query_folded))
    {
        return (&name.text, &name.language);
    }
    let words: Vec<String> = query.split_whitespace().map(folded).collect();
    if let Some(name) = titles.iter().find(|name| {
        let name = folded(&name.text);
        words.iter().all(|word| name.contains(word.as_str()))
    }) {
        return (&name.text, &name.language);
    }
    let language = titles
        .iter()
        .find(|name| name.text == main)
        .map_or("", |name| name.language.as_str());
    (main, language)
}

/// Autocomplete: releases whose names start with what was typed.
#[utoipa::path(
    get,
    path = "/v1/suggest",
    tag = "search",
    description = "For a search box: matches the beginnings of words of every name \
        (`shinge` finds `Shingeki no Kyojin`), tolerates typos in whole words, and tells which \
        name matched and in which language.",
    params(
        ("q" = String, Query, description = "What was typed so far, 1 to 200 characters", example = "shinge"),
        ("limit" = Option<i64>, Query, description = "Suggestions, 1 to 20, default 10", minimum = 1, maximum = 20),
    ),
    responses(
        (status = 200, description = "Suggestions", body = Suggestions),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The search engine is down; retry after `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn suggest(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let text = query_text(req)?;
    let limit = filters::limit(req, 10, MAX_SUGGESTIONS)?;

    let hits = state
        .search
        .suggest(&text, limit)
        .await
        .map_err(|error| search_problem(&error))?;
    let items = hits
        .into_iter()
        .filter_map(|hit| {
            let main = hit.main_title.unwrap_or_default();
            let (matched_title, matched_language) = matched_title(&text, &hit.titles, &main);
            let (matched_title, matched_language) =
                (matched_title.to_owned(), matched_language.to_owned());
            Some(Suggestion {
                id: hit.release_id.parse().ok()?,
                matched_title,
                matched_language,
                title: main,
                kind: hit.kind,
                year: hit.year.map(|year| year as i32),
                poster_url: hit.poster_url,
            })
        })
        .collect();
    let body = serde_json::to_vec(&Suggestions { items }).map_err(|_| Problem::internal())?;
    write_json(req, res, body, "public, max-age=60");
    Ok(())
}
