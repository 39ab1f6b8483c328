//! `/v1/releases`, `/v1/releases/{id}`, `/v1/releases/{id}/episodes`, `/v1/genres` and
//! `/v1/teams`: the catalogue, served from the read model in PostgreSQL (never from
//! the search engine, so it keeps working when search is down), through the Redis
//! cache.

#![expect(
    clippy::result_large_err,
    reason = "Problem is the single error shape of the API, built only on the error path"
)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use platform::http::Problem;
use salvo::{
    Depot, Request, Response, handler,
    http::{HeaderValue, header},
};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    conditional::write_json,
    database_problem,
    filters::{self, Cursor, DEFAULT_LIMIT, Filters, MAX_LIMIT, Sort, SortField},
};
use crate::{
    cache::{Cache, Scope},
    search::SearchEngine,
    store::catalog::{self, CardRow, DetailRow},
};

/// Episodes embedded in a release's detail; the rest are paged by `/episodes`.
const DETAIL_EPISODES: i64 = 100;

/// What the catalogue and search handlers reach through the depot.
#[derive(Clone)]
pub struct CatalogState {
    /// The read model.
    pub pool: PgPool,
    /// The response cache.
    pub cache: Cache,
    /// The search engine.
    pub search: SearchEngine,
    /// Longest wait for `min_version`.
    pub read_your_writes_wait: std::time::Duration,
}

pub(super) fn state(depot: &Depot) -> Result<CatalogState, Problem> {
    depot
        .get_typed::<CatalogState>()
        .cloned()
        .map_err(|_| Problem::internal())
}

/// A release in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "019aeb40-1111-7000-8000-000000000001", "title": "Full Metal Panic!",
    "kind": "tv", "status": "released", "year": 2002, "season": "winter_2002",
    "genres": ["action", "comedy"], "score": 7.8, "popularity": 120000,
    "poster_url": "https://example.org/posters/71.jpg", "episodes_total": 24,
    "episodes_aired": 24, "updated_at": "2026-12-04T16:30:00Z", "version": 3
}))]
pub struct ReleaseCard {
    /// Release id.
    pub id: Uuid,
    /// Main title.
    pub title: String,
    /// `tv`, `movie`, `ova`, `ona`, `special` or `music`.
    pub kind: String,
    /// `announced`, `ongoing` or `released`.
    pub status: String,
    /// Year it started.
    pub year: Option<i32>,
    /// Airing season, e.g. `winter_2016`.
    pub season: Option<String>,
    /// Genres.
    pub genres: Vec<String>,
    /// Average score, 0 to 10.
    pub score: Option<f64>,
    /// Popularity (users following it).
    pub popularity: Option<i64>,
    /// Poster URL.
    pub poster_url: Option<String>,
    /// Episodes planned.
    pub episodes_total: Option<i32>,
    /// Episodes aired.
    pub episodes_aired: Option<i32>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Aggregate version this card reflects.
    pub version: i64,
}

fn season_of(season: Option<String>, year: Option<i32>) -> Option<String> {
    Some(format!("{}_{}", season?, year?))
}

impl From<CardRow> for ReleaseCard {
    fn from(row: CardRow) -> Self {
        Self {
            id: row.release_id,
            title: row.main_title,
            kind: row.kind,
            status: row.status,
            year: row.year,
            season: season_of(row.airing_season, row.airing_year),
            genres: row.genres,
            score: row.score,
            popularity: row.popularity,
            poster_url: row.poster_url,
            episodes_total: row.episodes_total,
            episodes_aired: row.episodes_aired,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// A page of releases.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleasePage {
    /// The releases of this page.
    pub items: Vec<ReleaseCard>,
    /// Cursor of the next page; absent on the last page. Also sent as a `Link` header.
    pub next: Option<String>,
}

/// The catalogue, filtered and sorted, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/releases",
    tag = "catalogue",
    description = "Served from the read model. Keyset pagination: pass the `next` of a page \
        (also in the `Link: <...>; rel=\"next\"` header) as `cursor` to get the following page; a \
        cursor only works with the sort it was made for. Default sort: popularity, descending.",
    params(
        ("kind" = Option<String>, Query, description = "Comma-separated kinds: tv, movie, ova, ona, special, music", example = "tv,movie"),
        ("status" = Option<String>, Query, description = "Comma-separated statuses: announced, ongoing, released"),
        ("year_from" = Option<i32>, Query, description = "Earliest start year (1900 to 2100)", minimum = 1900, maximum = 2100),
        ("year_to" = Option<i32>, Query, description = "Latest start year (1900 to 2100)", minimum = 1900, maximum = 2100),
        ("season" = Option<String>, Query, description = "Airing season, `<winter|spring|summer|fall>_<year>`; winter runs from December (of the year before) to February", example = "winter_2016"),
        ("genres" = Option<String>, Query, description = "Comma-separated genres; a release must have all of them", example = "action,comedy"),
        ("exclude_genres" = Option<String>, Query, description = "Comma-separated genres; a release must have none of them"),
        ("age_rating" = Option<String>, Query, description = "Comma-separated age ratings: g, pg, pg13, r, r_plus, rx"),
        ("translation_type" = Option<String>, Query, description = "voice or subtitles"),
        ("team" = Option<String>, Query, description = "A translation team, exactly as `/v1/teams` lists it"),
        ("sort" = Option<String>, Query, description = "popularity (default), score, year, updated or title; a release without the value counts as the lowest (first in ascending order)"),
        ("order" = Option<String>, Query, description = "asc or desc; default desc, asc for title"),
        ("limit" = Option<i64>, Query, description = "Items per page, 1 to 100, default 20", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of releases", body = ReleasePage,
            headers(("ETag" = String, description = "Entity tag"), ("Link" = String, description = "Next page, rel=\"next\""))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) -> Result<(), Problem> {
    let state = state(depot)?;
    let filters = Filters::parse(req)?;
    let sort = filters::sort(req)?.unwrap_or(Sort {
        field: SortField::Popularity,
        descending: true,
    });
    let cursor = filters::cursor(req, sort)?;
    let limit = filters::limit(req, DEFAULT_LIMIT, MAX_LIMIT)?;

    let cache_key = serde_json::to_string(&(
        "releases",
        &filters,
        sort,
        cursor.as_ref().map(Cursor::encode),
        limit,
    ))
    .map_err(|_| Problem::internal())?;
    let body = match state.cache.get(Scope::Lists, &cache_key).await {
        Some(body) => body,
        None => {
            let mut rows = catalog::list(&state.pool, &filters, sort, cursor.as_ref(), limit)
                .await
                .map_err(|error| database_problem(&error))?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let next = rows.last().filter(|_| more).map(|row| {
                Cursor {
                    sort,
                    value: row.sort_value.clone(),
                    id: row.release_id,
                }
                .encode()
            });
            let page = ReleasePage {
                items: rows.into_iter().map(ReleaseCard::from).collect(),
                next,
            };
            let body = serde_json::to_vec(&page).map_err(|_| Problem::internal())?;
            state.cache.put(Scope::Lists, &cache_key, &body).await;
            body
        }
    };

    #[derive(Deserialize)]
    struct NextOnly {
        next: Option<String>,
    }
    if let Ok(NextOnly { next: Some(next) }) = serde_json::from_slice::<NextOnly>(&body) {
        let link = format!("<{}>; rel=\"next\"", next_url(req, &next));
        if let Ok(value) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(header::LINK, value);
        }
    }
    write_json(req, res, body, "public, max-age=30");
    Ok(())
}

/// The request's path and query with `cursor` replaced.
fn next_url(req: &Request, cursor: &str) -> String {
    let mut query: Vec<String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("cursor="))
        .map(str::to_owned)
        .collect();
    query.push(format!("cursor={cursor}"));
    format!("{}?{}", req.uri().path(), query.join("&"))
}

/// A name of a release.
#[derive(Debug, Serialize, ToSchema)]
pub struct TitleView {
    /// The name.
    pub text: String,
    /// `main`, `official`, `synonym` or `short`.
    pub kind: String,
}

/// An episode.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "season": 1, "number": "6.5", "title": "Recap", "recap": true, "filler": false }))]
pub struct EpisodeView {
    /// Season; 0 holds specials.
    pub season: i32,
    /// Number as a decimal string (`0`, `1`, `6.5`); lists are in numeric order.
    pub number: String,
    /// Title, when known.
    pub title: Option<String>,
    /// A recap episode.
    pub recap: bool,
    /// A filler episode.
    pub filler: bool,
}

impl From<catalog::EpisodeRow> for EpisodeView {
    fn from(row: catalog::EpisodeRow) -> Self {
        Self {
            season: row.season,
            number: row.number,
            title: row.title,
            recap: row.recap,
            filler: row.filler,
        }
    }
}

/// A season and how many episodes it has.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeasonView {
    /// Season number; 0 holds specials.
    pub season: i32,
    /// Episodes in it.
    pub episodes: i64,
}

/// The translation a group of sources is in.
#[derive(Debug, Serialize, ToSchema)]
pub struct TranslationView {
    /// Upstream translation id.
    pub id: i64,
    /// Its name.
    pub title: String,
    /// `voice` or `subtitles`.
    pub kind: String,
}

/// The player link of one episode.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// Season.
    pub season: i32,
    /// Episode number.
    pub episode: String,
    /// Player URL.
    pub player_link: String,
}

/// Every source of one translation.
#[derive(Debug, Serialize, ToSchema)]
pub struct TranslationSources {
    /// The translation.
    pub translation: TranslationView,
    /// Team behind it.
    pub team: Option<String>,
    /// Video quality.
    pub quality: Option<String>,
    /// Recorded in a cinema.
    pub camrip: bool,
    /// Countries where playback is blocked.
    pub blocked_countries: Vec<String>,
    /// One player link per episode, in numeric order.
    pub sources: Vec<SourceView>,
}

/// Everything about one release.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseDetail {
    /// Release id.
    pub id: Uuid,
    /// The release version this view reflects (its fields and every translation's
    /// sources): what a moderator sends as `If-Match`.
    pub version: i64,
    /// Main title.
    pub title: String,
    /// Every name, by language (`ru`, `en`, `romaji`, `ja`, or another code).
    #[schema(example = json!({ "ru": [{ "text": "Стальная тревога", "kind": "main" }], "romaji": [{ "text": "Full Metal Panic!", "kind": "main" }] }))]
    pub titles: BTreeMap<String, Vec<TitleView>>,
    /// Kind.
    pub kind: String,
    /// Status.
    pub status: String,
    /// Start year.
    pub year: Option<i32>,
    /// Airing season, e.g. `winter_2016`.
    pub season: Option<String>,
    /// Genres.
    pub genres: Vec<String>,
    /// Age rating.
    pub age_rating: Option<String>,
    /// Synopsis.
    pub description: Option<String>,
    /// Poster URL.
    pub poster_url: Option<String>,
    /// Episodes planned.
    pub episodes_total: Option<i32>,
    /// Episodes aired, as the source reports it.
    pub episodes_aired: Option<i32>,
    /// When the next episode airs.
    pub next_episode_at: Option<DateTime<Utc>>,
    /// Average score.
    pub score: Option<f64>,
    /// Popularity.
    pub popularity: Option<i64>,
    /// Ids in other databases.
    #[schema(value_type = Object)]
    pub external_ids: serde_json::Value,
    /// Translation teams.
    pub teams: Vec<String>,
    /// Seasons with their episode counts.
    pub seasons: Vec<SeasonView>,
    /// The first episodes in numeric order (0 and 6.5 kept); `episodes_next` pages on.
    pub episodes: Vec<EpisodeView>,
    /// Cursor for `/v1/releases/{id}/episodes` when there are more episodes.
    pub episodes_next: Option<String>,
    /// Video sources grouped by translation, voice first.
    pub sources: Vec<TranslationSources>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn release_id(req: &Request) -> Result<Uuid, Problem> {
    let text = req.param::<String>("id").unwrap_or_default();
    Uuid::parse_str(&text)
        .map_err(|_| Problem::invalid_parameter("id", "the release id must be a UUID"))
}

fn language_code(language: &schemas::releases::TitleLanguage) -> String {
    use schemas::releases::TitleLanguage;
    match language {
        TitleLanguage::Ru => "ru".to_owned(),
        TitleLanguage::En => "en".to_owned(),
        TitleLanguage::Romaji => "romaji".to_owned(),
        TitleLanguage::Ja => "ja".to_owned(),
        TitleLanguage::Other(code) => code.clone(),
    }
}

fn episode_cursor(episode: &EpisodeView) -> String {
    format!("{}:{}", episode.season, episode.number)
}

async fn build_detail(pool: &PgPool, row: DetailRow) -> Result<ReleaseDetail, sqlx::Error> {
    let mut episode_rows =
        catalog::episodes(pool, row.release_id, None, None, DETAIL_EPISODES).await?;
    let more = episode_rows.len() as i64 > DETAIL_EPISODES;
    episode_rows.truncate(DETAIL_EPISODES as usize);
    let episode_views: Vec<EpisodeView> = episode_rows.into_iter().map(EpisodeView::from).collect();
    let episodes_next = episode_views.last().filter(|_| more).map(episode_cursor);
    let seasons = catalog::seasons(pool, row.release_id).await?;
    let sources = catalog::sources(pool, row.release_id).await?;

    let mut titles: BTreeMap<String, Vec<TitleView>> = BTreeMap::new();
    for title in row.titles.0 {
        titles
            .entry(language_code(&title.language))
            .or_default()
            .push(TitleView {
                text: title.text,
                kind: serde_json::to_value(title.kind)
                    .ok()
                    .and_then(|kind| kind.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            });
    }
    Ok(ReleaseDetail {
        id: row.release_id,
        version: row.version,
        title: row.main_title,
        titles,
        kind: row.kind,
        status: row.status,
        year: row.year,
        season: season_of(row.airing_season, row.airing_year),
        genres: row.genres,
        age_rating: row.age_rating,
        description: row.description,
        poster_url: row.poster_url,
        episodes_total: row.episodes_total,
        episodes_aired: row.episodes_aired,
        next_episode_at: row.next_episode_at,
        score: row.score,
        popularity: row.popularity,
        external_ids: row.external_ids,
        teams: row.teams,
        seasons: seasons
            .into_iter()
            .map(|(season, count)| SeasonView {
                season,
                episodes: count,
            })
            .collect(),
        episodes: episode_views,
        episodes_next,
        sources: sources
            .into_iter()
            .map(|row| TranslationSources {
                translation: TranslationView {
                    id: row.translation_id,
                    title: row.translation_title,
                    kind: row.translation_kind,
                },
                team: row.team,
                quality: row.quality,
                camrip: row.camrip,
                blocked_countries: row.blocked_countries,
                sources: row
                    .sources
                    .0
                    .into_iter()
                    .map(|source| SourceView {
                        season: source.season,
                        episode: source.episode,
                        player_link: source.player_link,
                    })
                    .collect(),
            })
            .collect(),
        updated_at: row.updated_at,
    })
}

/// One release with its titles, seasons, first episodes and sources.
#[utoipa::path(
    get,
    path = "/v1/releases/{id}",
    tag = "catalogue",
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("min_version" = Option<i64>, Query, description = "Wait until the detail reflects at least this release version (the `version` a moderator's change answered with)", minimum = 1),
    ),
    responses(
        (status = 200, description = "The release", body = ReleaseDetail,
            headers(("ETag" = String, description = "Entity tag"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Malformed id or min_version", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not caught up with `min_version` yet, or the read database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn detail(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let id = release_id(req)?;
    let min_version = super::min_version(req)?;
    // A client waiting for its own change reads the read model, not the cache.
    let cached = match min_version {
        None => state.cache.get(Scope::Release(id), "detail").await,
        Some(_) => None,
    };
    let body = match cached {
        Some(body) => body,
        None => {
            let row = super::read_your_write(
                state.read_your_writes_wait,
                min_version,
                |row: &catalog::DetailRow| row.version,
                || catalog::detail(&state.pool, id),
            )
            .await?
            .filter(|row| !row.deleted)
            .ok_or_else(|| Problem::not_found(format!("no release with id {id}")))?;
            let view = build_detail(&state.pool, row)
                .await
                .map_err(|error| database_problem(&error))?;
            let body = serde_json::to_vec(&view).map_err(|_| Problem::internal())?;
            state.cache.put(Scope::Release(id), "detail", &body).await;
            body
        }
    };
    write_json(req, res, body, "public, max-age=60");
    Ok(())
}

/// A page of episodes.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpisodePage {
    /// Episodes in numeric order.
    pub items: Vec<EpisodeView>,
    /// Cursor of the next page; absent on the last page.
    pub next: Option<String>,
}

fn parse_episode_cursor(text: &str) -> Option<(i32, String)> {
    let (season, number) = text.split_once(':')?;
    let season: i32 = season.parse().ok()?;
    let valid = !number.is_empty()
        && number.len() <= 20
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.parse::<f64>().is_ok();
    valid.then(|| (season, number.to_owned()))
}

/// The episodes of a release in numeric order, for series with many of them.
#[utoipa::path(
    get,
    path = "/v1/releases/{id}/episodes",
    tag = "catalogue",
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("season" = Option<i32>, Query, description = "Only this season", minimum = 0),
        ("limit" = Option<i64>, Query, description = "Episodes per page, 1 to 100, default 100", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page (or the detail's `episodes_next`)"),
    ),
    responses(
        (status = 200, description = "A page of episodes", body = EpisodePage),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The read database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn episodes(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let id = release_id(req)?;
    let season = filters::integer(req, "season", 0, 10_000)?.map(|season| season as i32);
    let limit = filters::limit(req, MAX_LIMIT, MAX_LIMIT)?;
    let after = match req.query::<String>("cursor") {
        None => None,
        Some(text) => Some(
            parse_episode_cursor(text.trim())
                .ok_or_else(|| Problem::invalid_parameter("cursor", "the cursor is malformed"))?,
        ),
    };
    let cache_key = format!(
        "episodes:{season:?}:{limit}:{}",
        after
            .as_ref()
            .map(|(season, number)| format!("{season}:{number}"))
            .unwrap_or_default()
    );
    let body = match state.cache.get(Scope::Release(id), &cache_key).await {
        Some(body) => body,
        None => {
            catalog::detail(&state.pool, id)
                .await
                .map_err(|error| database_problem(&error))?
                .filter(|row| !row.deleted)
                .ok_or_else(|| Problem::not_found(format!("no release with id {id}")))?;
            let mut rows = catalog::episodes(&state.pool, id, season, after, limit)
                .await
                .map_err(|error| database_problem(&error))?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let items: Vec<EpisodeView> = rows.into_iter().map(EpisodeView::from).collect();
            let next = items.last().filter(|_| more).map(episode_cursor);
            let body = serde_json::to_vec(&EpisodePage { items, next })
                .map_err(|_| Problem::internal())?;
            state.cache.put(Scope::Release(id), &cache_key, &body).await;
            body
        }
    };
    write_json(req, res, body, "public, max-age=60");
    Ok(())
}

/// A genre or team with the number of releases that have it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "name": "action", "releases": 1520 }))]
pub struct NamedCount {
    /// The name.
    pub name: String,
    /// Releases that have it.
    pub releases: i64,
}

/// A list of names with counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedCounts {
    /// Most releases first.
    pub items: Vec<NamedCount>,
}

async fn counts(
    req: &Request,
    depot: &Depot,
    res: &mut Response,
    what: &'static str,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let body = match state.cache.get(Scope::Lists, what).await {
        Some(body) => body,
        None => {
            let rows = if what == "genres" {
                catalog::genres(&state.pool).await
            } else {
                catalog::teams(&state.pool).await
            }
            .map_err(|error| database_problem(&error))?;
            let answer = NamedCounts {
                items: rows
                    .into_iter()
                    .map(|(name, releases)| NamedCount { name, releases })
                    .collect(),
            };
            let body = serde_json::to_vec(&answer).map_err(|_| Problem::internal())?;
            state.cache.put(Scope::Lists, what, &body).await;
            body
        }
    };
    write_json(req, res, body, "public, max-age=60");
    Ok(())
}

/// Every genre with its number of releases.
#[utoipa::path(
    get,
    path = "/v1/genres",
    tag = "catalogue",
    responses(
        (status = 200, description = "Genres, most used first", body = NamedCounts),
        (status = 503, description = "The read database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn genres(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    counts(req, depot, res, "genres").await
}

/// Every translation team with its number of releases.
#[utoipa::path(
    get,
    path = "/v1/teams",
    tag = "catalogue",
    responses(
        (status = 200, description = "Teams, most releases first", body = NamedCounts),
        (status = 503, description = "The read database is down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn teams(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    counts(req, depot, res, "teams").await
}
