//! Queries to the search engine: full-text search with filters, facets and highlights,
//! and autocomplete. The query text is only ever passed to `match`-family queries, so
//! characters that mean something in the query_string syntax are searched as text.
//! Only API common to Elasticsearch 8/9 and OpenSearch 2/3 is used.
//!
//! Ranking, in short (see `docs/search.md`): every name field is scored on its own and
//! the best one counts (`dis_max` without tie breaker, never a sum across fields); a
//! query equal to a whole name (after normalisation) gets a large constant bonus; the
//! popularity of the release adds a small, logarithmic amount to break ties.

use std::{sync::LazyLock, time::Duration};

use elasticsearch::{
    Elasticsearch,
    http::{
        Method,
        headers::{ACCEPT_ENCODING, HeaderMap, HeaderValue},
        transport::{SingleNodeConnectionPool, TransportBuilder},
    },
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::http::filters::{Filters, Sort, SortField};

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The engine is unreachable or overloaded.
    #[error("search engine unavailable: {0}")]
    Unavailable(String),
    /// The engine rejected the query (a bug on our side).
    #[error("search engine rejected the query: {0}")]
    Rejected(String),
}

/// Search engine settings are shared with the indexer: `platform::config::SearchArgs`.
#[derive(Clone)]
pub struct SearchEngine {
    client: Elasticsearch,
    /// `/{alias}/_search`.
    search_path: String,
}

/// Name fields by language, as mapped in `consumers/search/releases.json`.
const LANGUAGE_FIELDS: &[&str] = &["title_ru", "title_en", "title_romaji", "title_other"];

/// Fields a search hit shows (the matched names come as highlights, so the many
/// names of each release stay in the engine).
const SOURCE_FIELDS: &[&str] = &[
    "release_id",
    "main_title",
    "kind",
    "status",
    "year",
    "season",
    "genres",
    "score",
    "popularity",
    "poster_url",
];

/// Fields an autocomplete item shows.
const SUGGEST_FIELDS: &[&str] = &[
    "release_id",
    "main_title",
    "kind",
    "year",
    "poster_url",
    "titles",
];

/// One name of a release, as indexed.
#[derive(Debug, Deserialize)]
pub struct IndexedName {
    /// The name.
    pub text: String,
    /// Its language code.
    pub language: String,
}

/// The parts of a search or autocomplete answer that the routes show; the rest is
/// skipped.
#[derive(Debug, Default, Deserialize)]
pub struct SearchAnswer {
    /// The hits and their total.
    #[serde(default)]
    pub hits: SearchHits,
    /// Facet counts, by aggregation name.
    #[serde(default)]
    pub aggregations: SearchFacets,
}

/// Hits of a search answer.
#[derive(Debug, Default, Deserialize)]
pub struct SearchHits {
    /// How many documents matched.
    #[serde(default)]
    pub total: Option<HitCount>,
    /// This page.
    #[serde(default)]
    pub hits: Vec<SearchHitSource>,
}

/// `hits.total` (exact: the query asks `track_total_hits`).
#[derive(Debug, Deserialize)]
pub struct HitCount {
    /// The count.
    pub value: i64,
}

/// One hit: its fields, and highlights (full-text search only).
#[derive(Debug, Deserialize)]
pub struct SearchHitSource {
    /// The document.
    #[serde(rename = "_source")]
    pub source: HitFields,
    /// Highlighted names by field (`title_ru`...).
    #[serde(default)]
    pub highlight: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// The shown fields of a hit's `_source`. Each query asks for its own subset
/// ([`SOURCE_FIELDS`] for search, [`SUGGEST_FIELDS`] for autocomplete); the others
/// stay empty.
#[derive(Debug, Deserialize)]
pub struct HitFields {
    /// The release id.
    pub release_id: String,
    /// The main title.
    #[serde(default)]
    pub main_title: Option<String>,
    /// Kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<String>,
    /// Start year.
    #[serde(default)]
    pub year: Option<i64>,
    /// Airing season.
    #[serde(default)]
    pub season: Option<String>,
    /// Genres.
    #[serde(default)]
    pub genres: Option<Vec<String>>,
    /// Score.
    #[serde(default)]
    pub score: Option<f64>,
    /// Popularity.
    #[serde(default)]
    pub popularity: Option<i64>,
    /// Poster URL.
    #[serde(default)]
    pub poster_url: Option<String>,
    /// Every name, in every language (autocomplete only).
    #[serde(default)]
    pub titles: Vec<IndexedName>,
}

/// The facet aggregations of a search.
#[derive(Debug, Default, Deserialize)]
pub struct SearchFacets {
    /// Per genre.
    #[serde(default)]
    pub genres: Terms,
    /// Per kind.
    #[serde(default)]
    pub kinds: Terms,
    /// Per start year.
    #[serde(default)]
    pub years: Terms,
    /// Per status.
    #[serde(default)]
    pub statuses: Terms,
}

/// A `terms` aggregation.
#[derive(Debug, Default, Deserialize)]
pub struct Terms {
    /// Values and their counts.
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

/// One value of a `terms` aggregation.
#[derive(Debug, Deserialize)]
pub struct Bucket {
    /// The value: text, or a number for numeric fields.
    pub key: BucketKey,
    /// Matching documents with it.
    pub doc_count: i64,
}

/// A bucket's key.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BucketKey {
    /// A keyword.
    Text(String),
    /// A number (years).
    Number(serde_json::Number),
}

impl BucketKey {
    /// The key as text.
    pub fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Number(number) => number.to_string(),
        }
    }
}

impl SearchEngine {
    /// A client for `url` reading through `alias`, waiting at most `timeout` per request.
    pub fn new(url: &str, alias: String, timeout: Duration) -> anyhow::Result<Self> {
        // Answers cross loopback or a LAN: compressing them (the engine does when asked,
        // and the HTTP client asks by default) costs both sides CPU for nothing.
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url.parse()?))
            .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"))
            .timeout(timeout)
            .build()?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            search_path: format!("/{alias}/_search"),
        })
    }

    /// True when the engine answers; for readiness.
    pub async fn is_reachable(&self) -> bool {
        let ping = self.client.ping().send();
        matches!(
            tokio::time::timeout(Duration::from_secs(2), ping).await,
            Ok(Ok(response)) if response.status_code().is_success()
        )
    }

    /// Sends a search `body` (JSON text) and reads the successful answer as `T`,
    /// reduced to `filter_path` (plus any error) when one is given.
    async fn run<T: DeserializeOwned>(
        &self,
        body: &str,
        filter_path: Option<&[&str]>,
    ) -> Result<T, SearchError> {
        let filter_path = filter_path.map(|paths| [paths, &["error", "status"]].concat().join(","));
        let query: Vec<(&str, &str)> = filter_path
            .iter()
            .map(|paths| ("filter_path", paths.as_str()))
            .collect();
        let send = || {
            self.client.send(
                Method::Post,
                &self.search_path,
                HeaderMap::new(),
                Some(&query),
                Some(body),
                None,
            )
        };
        // A pooled keep-alive connection the engine already closed fails at once; a
        // search is read-only, so one immediate retry on a fresh connection is safe.
        let response = match send().await {
            Ok(response) => response,
            Err(first) => {
                tracing::debug!(error = ?first, "search request failed, retrying once");
                send()
                    .await
                    .map_err(|error| SearchError::Unavailable(format!("{error:?}")))?
            }
        };
        let status = response.status_code();
        let answer = response
            .bytes()
            .await
            .map_err(|error| SearchError::Unavailable(error.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&answer).map_err(|error| {
                SearchError::Unavailable(format!(
                    "unexpected answer from the search engine: {error}"
                ))
            });
        }
        let error = serde_json::from_slice::<Value>(&answer)
            .map(|answer| answer["error"].to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(&answer).into_owned());
        let detail = format!("{status}: {error}");
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 404 {
            return Err(SearchError::Unavailable(detail));
        }
        Err(SearchError::Rejected(detail))
    }

    /// Full-text search: hits, total, facets and highlights.
    pub async fn search(
        &self,
        text: &str,
        filters: &Filters,
        sort: Option<Sort>,
        offset: i64,
        limit: i64,
    ) -> Result<SearchAnswer, SearchError> {
        let body = search_body_text(text, filters, sort, offset, limit);
        // Only what the answer uses comes back: facets carry much that is not shown.
        self.run(
            &body,
            Some(&[
                "hits.total",
                "hits.hits._source",
                "hits.hits.highlight",
                "aggregations.*.buckets",
            ]),
        )
        .await
    }

    /// Autocomplete: releases whose names start with the words typed, best first.
    pub async fn suggest(&self, text: &str, limit: i64) -> Result<Vec<HitFields>, SearchError> {
        let answer: SearchAnswer = self
            // No `filter_path`: filtering a few hits costs the engine more CPU than the
            // bytes it saves cost us to skip.
            .run(&suggest_body_text(text, limit), None)
            .await?;
        Ok(answer.hits.hits.into_iter().map(|hit| hit.source).collect())
    }
}

/// The body of a full-text search, as a tree.
#[cfg(test)]
fn search_body(
    text: &str,
    filters: &Filters,
    sort: Option<Sort>,
    offset: i64,
    limit: i64,
) -> Value {
    search_tree(
        text,
        filter_clauses(filters),
        sort,
        json!(offset),
        json!(limit),
    )
}

/// [`search_body`] as JSON text (also printed by `query-api search-body`, so the
/// benchmark can send the very same query straight to the engine). A search without
/// filters or sort, the common case, is filled into a body serialised once, as the
/// autocomplete body is; others are built as a tree.
pub fn search_body_text(
    text: &str,
    filters: &Filters,
    sort: Option<Sort>,
    offset: i64,
    limit: i64,
) -> String {
    static TEMPLATE: LazyLock<Template> = LazyLock::new(|| {
        Template::new(&search_tree(
            Template::TEXT,
            Vec::new(),
            None,
            json!(Template::OFFSET),
            json!(Template::LIMIT),
        ))
    });
    let filters = filter_clauses(filters);
    if filters.is_empty() && sort.is_none() {
        return TEMPLATE.fill(&Fill {
            text,
            folded: "",
            offset,
            limit,
        });
    }
    search_tree(text, filters, sort, json!(offset), json!(limit)).to_string()
}

/// The full-text query, with the filter clauses, the offset and the size as given.
fn search_tree(
    text: &str,
    filters: Vec<Value>,
    sort: Option<Sort>,
    from: Value,
    size: Value,
) -> Value {
    let mut body = json!({
        "from": from,
        "size": size,
        "track_total_hits": true,
        "_source": SOURCE_FIELDS,
        "query": ranked(text, matching(text), filters, None),
        "highlight": {
            "pre_tags": ["<em>"],
            "post_tags": ["</em>"],
            "number_of_fragments": 0,
            // The languages shown to users; highlighting the many other-language names
            // doubled the cost of a search.
            "fields": { "title_ru": {}, "title_en": {}, "title_romaji": {} },
            // Highlights mark the words as typed (after each field's analysis), not
            // their fuzzy variants: expanding typos again for every hit tripled the
            // cost of a search.
            "highlight_query": { "multi_match": {
                "query": text, "fields": ["title_ru", "title_en", "title_romaji"]
            } }
        },
        "aggs": {
            "genres": { "terms": { "field": "genres", "size": 100 } },
            "kinds": { "terms": { "field": "kind", "size": 10 } },
            "years": { "terms": { "field": "year", "size": 200, "order": { "_key": "desc" } } },
            "statuses": { "terms": { "field": "status", "size": 10 } }
        }
    });
    if let Some(sort) = sort {
        body["sort"] = sort_clause(sort);
    }
    body
}

/// The body of an autocomplete query, as a tree.
#[cfg(test)]
fn suggest_body(text: &str, limit: i64) -> Value {
    suggest_tree(text, &folded(text), json!(limit))
}

/// [`suggest_body`] as JSON text. The query's shape never depends on the text, so it
/// is serialised once with markers where the text goes and filled in per request:
/// copying a few strings instead of building and serialising a tree of maps.
pub fn suggest_body_text(text: &str, limit: i64) -> String {
    static TEMPLATE: LazyLock<Template> = LazyLock::new(|| {
        Template::new(&suggest_tree(
            Template::TEXT,
            Template::FOLDED,
            json!(Template::LIMIT),
        ))
    });
    TEMPLATE.fill(&Fill {
        text,
        folded: &folded(text),
        offset: 0,
        limit,
    })
}

/// The autocomplete query, with the text, its folded form and the size as given.
fn suggest_tree(text: &str, folded_text: &str, size: Value) -> Value {
    // Constant scores: how rare a prefix is in one language field says nothing about
    // which completion is meant, so every kind of match is worth a fixed amount and
    // popularity orders releases that match the same way.
    let constant =
        |query: Value, boost: f64| json!({ "constant_score": { "filter": query, "boost": boost } });
    let mut alternatives = Vec::new();
    for field in LANGUAGE_FIELDS.iter().chain(&["title_ja"]) {
        alternatives.push(constant(
            json!({ "match": { format!("{field}.prefix"): { "query": text, "operator": "and" } } }),
            10.0,
        ));
    }
    for field in LANGUAGE_FIELDS {
        alternatives.push(constant(
            json!({ "match": { *field: {
                "query": text, "operator": "and", "fuzziness": "AUTO", "prefix_length": 1
            } } }),
            6.0,
        ));
    }
    alternatives.push(constant(
        json!({ "match": { "title_ja": { "query": text, "minimum_should_match": "75%" } } }),
        8.0,
    ));
    let query = json!({ "dis_max": { "tie_breaker": 0.0, "queries": alternatives } });
    // A name that starts with what was typed (as a whole, not word by word) is the
    // likeliest completion; it gets a constant bonus, and popularity orders those.
    let starts_a_name = json!({ "constant_score": {
        "filter": { "prefix": { "names_exact": folded_text } },
        "boost": 5.0
    } });
    json!({
        "size": size,
        "_source": SUGGEST_FIELDS,
        "query": ranked(text, query, Vec::new(), Some(starts_a_name)),
    })
}

/// A JSON body serialised once, with string markers standing for the values filled in
/// per request.
struct Template {
    /// Text between the markers: one more piece than there are slots.
    pieces: Vec<String>,
    slots: Vec<Slot>,
}

#[derive(Clone, Copy)]
enum Slot {
    Text,
    Folded,
    Offset,
    Limit,
}

/// The values of a [`Template`]'s slots.
struct Fill<'a> {
    text: &'a str,
    folded: &'a str,
    offset: i64,
    limit: i64,
}

impl Template {
    // Looked for only in the tree built from them, before any request: a query that
    // happens to contain the same characters is filled in as text like any other.
    const TEXT: &str = "\0text";
    const FOLDED: &str = "\0folded";
    const OFFSET: &str = "\0offset";
    const LIMIT: &str = "\0limit";

    fn new(tree: &Value) -> Self {
        let markers = [
            (json!(Self::TEXT).to_string(), Slot::Text),
            (json!(Self::FOLDED).to_string(), Slot::Folded),
            (json!(Self::OFFSET).to_string(), Slot::Offset),
            (json!(Self::LIMIT).to_string(), Slot::Limit),
        ];
        let mut rest = tree.to_string();
        let (mut pieces, mut slots) = (Vec::new(), Vec::new());
        while let Some((at, marker, slot)) = markers
            .iter()
            .filter_map(|(marker, slot)| Some((rest.find(marker.as_str())?, marker, *slot)))
            .min_by_key(|(at, _, _)| *at)
        {
            pieces.push(rest[..at].to_owned());
            slots.push(slot);
            rest = rest[at + marker.len()..].to_owned();
        }
        pieces.push(rest);
        Self { pieces, slots }
    }

    fn fill(&self, values: &Fill) -> String {
        let (text, folded) = (
            json!(values.text).to_string(),
            json!(values.folded).to_string(),
        );
        let (offset, limit) = (values.offset.to_string(), values.limit.to_string());
        let mut body = String::with_capacity(
            self.pieces.iter().map(String::len).sum::<usize>()
                + self.slots.len() * (text.len() + folded.len()),
        );
        for (piece, slot) in self.pieces.iter().zip(&self.slots) {
            body.push_str(piece);
            body.push_str(match slot {
                Slot::Text => &text,
                Slot::Folded => &folded,
                Slot::Offset => &offset,
                Slot::Limit => &limit,
            });
        }
        body.push_str(self.pieces.last().map_or("", String::as_str));
        body
    }
}

/// The text part of a search: each name field scored alone, best field wins.
fn matching(text: &str) -> Value {
    let mut alternatives = Vec::new();
    for field in LANGUAGE_FIELDS {
        alternatives.push(json!({ "match_phrase": { *field: { "query": text, "boost": 3.0 } } }));
        // Typos: every word must match, each within the edit distance its length
        // allows (one edit from 4 letters, two from 10); the first two letters are
        // taken as typed. Both keep the fuzzy query, the main cost of a search,
        // cheap: two edits on every word of 6 letters or more cost a third more.
        alternatives.push(json!({ "match": { *field: {
            "query": text, "operator": "and", "fuzziness": "AUTO:4,10", "prefix_length": 2,
            "boost": 2.0
        } } }));
        // Most of the words, exactly: extra or missing words in a long query.
        alternatives.push(json!({ "match": { *field: {
            "query": text, "minimum_should_match": "2<70%", "boost": 0.7
        } } }));
        // Joined forms (`dgrayman`, `rezero`): shingles glued without separators.
        alternatives.push(json!({ "match": { format!("{field}.joined"): {
            "query": text, "minimum_should_match": "2<60%", "boost": 1.5
        } } }));
        alternatives.push(json!({ "match": { format!("{field}.prefix"): {
            "query": text, "operator": "and", "boost": 1.5
        } } }));
    }
    alternatives.push(json!({ "match": { "title_ru.plain": {
        "query": text, "operator": "and", "boost": 2.0
    } } }));
    alternatives.push(json!({ "match": { "title_ja": {
        "query": text, "minimum_should_match": "75%", "boost": 2.0
    } } }));
    alternatives.push(json!({ "match": { "title_ja.prefix": {
        "query": text, "operator": "and", "boost": 1.5
    } } }));
    json!({ "dis_max": { "tie_breaker": 0.0, "queries": alternatives } })
}

/// Adds the exact-name bonus, the filters and the popularity tie breaker.
fn ranked(text: &str, text_query: Value, mut filters: Vec<Value>, extra: Option<Value>) -> Value {
    filters.push(json!({ "term": { "deleted": false } }));
    let mut should = vec![json!({ "constant_score": {
        "filter": { "match": { "names_exact": { "query": text } } },
        "boost": 30.0
    } })];
    should.extend(extra);
    json!({ "function_score": {
        "query": { "bool": {
            "must": [text_query],
            "should": should,
            "filter": filters
        } },
        "functions": [{ "field_value_factor": {
            "field": "popularity", "modifier": "log1p", "missing": 0, "factor": 1.0
        }, "weight": 0.5 }],
        "score_mode": "sum",
        "boost_mode": "sum"
    } })
}

fn filter_clauses(filters: &Filters) -> Vec<Value> {
    let mut clauses = Vec::new();
    if !filters.kinds.is_empty() {
        clauses.push(json!({ "terms": { "kind": filters.kinds } }));
    }
    if !filters.statuses.is_empty() {
        clauses.push(json!({ "terms": { "status": filters.statuses } }));
    }
    if filters.year_from.is_some() || filters.year_to.is_some() {
        clauses.push(
            json!({ "range": { "year": { "gte": filters.year_from, "lte": filters.year_to } } }),
        );
    }
    if let Some((season, year)) = &filters.season {
        clauses.push(json!({ "term": { "season": format!("{season}_{year}") } }));
    }
    for genre in &filters.genres {
        clauses.push(json!({ "term": { "genres": genre } }));
    }
    if !filters.exclude_genres.is_empty() {
        clauses.push(json!({ "bool": { "must_not": [
            { "terms": { "genres": filters.exclude_genres } }
        ] } }));
    }
    if !filters.age_ratings.is_empty() {
        clauses.push(json!({ "terms": { "age_rating": filters.age_ratings } }));
    }
    if let Some(kind) = &filters.translation_type {
        clauses.push(json!({ "term": { "translation_kinds": kind } }));
    }
    if let Some(team) = &filters.team {
        clauses.push(json!({ "term": { "teams": team } }));
    }
    clauses
}

fn sort_clause(sort: Sort) -> Value {
    let field = match sort.field {
        SortField::Popularity => "popularity",
        SortField::Score => "score",
        SortField::Year => "year",
        SortField::Updated => "updated_at",
        SortField::Title => "sort_title",
    };
    let order = if sort.descending { "desc" } else { "asc" };
    json!([{ field: { "order": order, "missing": "_last" } }, "_score", { "release_id": "asc" }])
}

/// Lower-case letters and digits only, `ё` as `е`, common Latin diacritics dropped: the
/// `exact` normalizer of the mapping, for queries the engine does not normalise
/// (`prefix`), and to tell which name matched.
pub fn folded(text: &str) -> String {
    folded_chars(text).collect()
}

/// Whether [`folded`]`(text)` starts with `prefix` (itself folded), folding only as far
/// as it takes to tell.
pub fn folds_to_prefix(text: &str, prefix: &str) -> bool {
    let mut text = folded_chars(text);
    prefix.chars().all(|wanted| text.next() == Some(wanted))
}

fn folded_chars(text: &str) -> impl Iterator<Item = char> {
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            'ё' => Some('е'),
            'ā' | 'â' | 'á' | 'à' | 'ä' => Some('a'),
            'ē' | 'ê' | 'é' | 'è' | 'ë' => Some('e'),
            'ī' | 'î' | 'í' | 'ì' | 'ï' => Some('i'),
            'ō' | 'ô' | 'ó' | 'ò' | 'ö' => Some('o'),
            'ū' | 'û' | 'ú' | 'ù' | 'ü' => Some('u'),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTS: &[&str] = &[
        "shinge",
        "Shingeki no Kyojin",
        "Ёлки \"2\" \\ back\\slash",
        "a\u{0}text \u{0}folded \u{0}limit",
        "進撃の巨人",
        "tab\tnew\nline \u{1f} ctl",
        "",
    ];

    #[test]
    fn the_suggest_template_writes_the_tree() {
        for text in TEXTS {
            for limit in [1, 10, 20] {
                let filled: Value =
                    serde_json::from_str(&suggest_body_text(text, limit)).expect("valid JSON");
                assert_eq!(filled, suggest_body(text, limit), "for {text:?}, {limit}");
            }
        }
    }

    #[test]
    fn the_search_template_writes_the_tree() {
        let filtered = Filters {
            kinds: vec!["tv".to_owned()],
            ..Filters::default()
        };
        for text in TEXTS {
            for (offset, limit) in [(0, 20), (40, 1), (1000, 100)] {
                for filters in [&Filters::default(), &filtered] {
                    let filled: Value =
                        serde_json::from_str(&search_body_text(text, filters, None, offset, limit))
                            .expect("valid JSON");
                    let tree = search_body(text, filters, None, offset, limit);
                    assert_eq!(filled, tree, "for {text:?}, {offset}, {limit}");
                }
            }
        }
    }

    #[test]
    fn a_search_answer_is_read_with_its_facets_and_highlights() {
        let answer: SearchAnswer = serde_json::from_value(json!({
            "hits": {
                "total": { "value": 2, "relation": "eq" },
                "hits": [
                    {
                        "_source": {
                            "release_id": "019aeb40-1111-7000-8000-000000000001",
                            "main_title": "Full Metal Panic!", "kind": "tv", "status": null,
                            "year": 2002, "genres": ["action"], "score": 7.9, "popularity": 12
                        },
                        "highlight": { "title_ru": ["<em>Стальная</em> тревога"] }
                    },
                    { "_source": { "release_id": "019aeb40-1111-7000-8000-000000000002" } }
                ]
            },
            "aggregations": {
                "years": { "buckets": [{ "key": 2002, "doc_count": 1 }] },
                "kinds": { "buckets": [{ "key": "tv", "doc_count": 2 }] }
            }
        }))
        .expect("an answer");
        assert_eq!(answer.hits.total.map(|total| total.value), Some(2));
        let [first, second] = &answer.hits.hits[..] else {
            panic!("two hits");
        };
        assert_eq!(first.source.year, Some(2002));
        assert_eq!(first.source.status, None);
        assert_eq!(
            first
                .highlight
                .as_ref()
                .map(|fields| fields["title_ru"].len()),
            Some(1)
        );
        assert!(second.source.genres.is_none() && second.highlight.is_none());
        let years: Vec<_> = answer
            .aggregations
            .years
            .buckets
            .into_iter()
            .map(|bucket| (bucket.key.into_text(), bucket.doc_count))
            .collect();
        assert_eq!(years, [("2002".to_owned(), 1)]);
        assert!(answer.aggregations.genres.buckets.is_empty());
    }

    #[test]
    fn a_folded_prefix_is_told_without_folding_it_all() {
        let names = [
            "Shingeki no Kyojin",
            "Ёлки",
            "D.Gray-man",
            "Tōkyō Ghoul",
            "進撃の巨人",
        ];
        let prefixes = [
            "shinge",
            "елки",
            "dgr",
            "tokyog",
            "進撃",
            "",
            "x",
            "shingekinokyojinx",
        ];
        for name in names {
            for prefix in prefixes {
                assert_eq!(
                    folds_to_prefix(name, prefix),
                    folded(name).starts_with(prefix),
                    "{name:?} / {prefix:?}"
                );
            }
        }
    }
}
