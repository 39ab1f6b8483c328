//! The catalogue read model: release cards for lists with keyset pagination, the
//! detail of one release, its episodes in numeric order, and genre and team counts.
//! Deleted releases are tombstones and never leave this module.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::http::filters::{Cursor, Filters, Sort, SortField};

/// A release card, as lists show it.
#[derive(Debug, sqlx::FromRow)]
pub struct CardRow {
    pub release_id: Uuid,
    pub kind: String,
    pub status: String,
    pub main_title: String,
    pub year: Option<i32>,
    pub airing_year: Option<i32>,
    pub airing_season: Option<String>,
    pub genres: Vec<String>,
    pub score: Option<f64>,
    pub popularity: Option<i64>,
    pub poster_url: Option<String>,
    pub episodes_total: Option<i32>,
    pub episodes_aired: Option<i32>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// The sort key as text, for the next cursor.
    pub sort_value: String,
}

/// The column and SQL type of a sort.
fn sort_column(field: SortField) -> (&'static str, &'static str) {
    match field {
        SortField::Popularity => ("sort_popularity", "bigint"),
        SortField::Score => ("sort_score", "double precision"),
        SortField::Year => ("sort_year", "integer"),
        SortField::Updated => ("updated_at", "timestamptz"),
        SortField::Title => ("sort_title COLLATE \"C\"", "text"),
    }
}

fn push_filters(query: &mut QueryBuilder<'_, Postgres>, filters: &Filters) {
    query.push(" WHERE NOT deleted");
    if !filters.kinds.is_empty() {
        query
            .push(" AND kind = ANY(")
            .push_bind(filters.kinds.clone())
            .push(")");
    }
    if !filters.statuses.is_empty() {
        query
            .push(" AND status = ANY(")
            .push_bind(filters.statuses.clone())
            .push(")");
    }
    if let Some(from) = filters.year_from {
        query.push(" AND year >= ").push_bind(from);
    }
    if let Some(to) = filters.year_to {
        query.push(" AND year <= ").push_bind(to);
    }
    if let Some((season, year)) = &filters.season {
        query
            .push(" AND airing_season = ")
            .push_bind(season.clone())
            .push(" AND airing_year = ")
            .push_bind(*year);
    }
    if !filters.genres.is_empty() {
        query
            .push(" AND genres @> ")
            .push_bind(filters.genres.clone());
    }
    if !filters.exclude_genres.is_empty() {
        query
            .push(" AND NOT genres && ")
            .push_bind(filters.exclude_genres.clone());
    }
    if !filters.age_ratings.is_empty() {
        query
            .push(" AND age_rating = ANY(")
            .push_bind(filters.age_ratings.clone())
            .push(")");
    }
    if let Some(kind) = &filters.translation_type {
        query
            .push(" AND ")
            .push_bind(kind.clone())
            .push(" = ANY(translation_kinds)");
    }
    if let Some(team) = &filters.team {
        query
            .push(" AND ")
            .push_bind(team.clone())
            .push(" = ANY(teams)");
    }
}

/// One page of release cards, `limit + 1` rows so the caller knows if more follow.
pub async fn list(
    pool: &PgPool,
    filters: &Filters,
    sort: Sort,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<CardRow>, sqlx::Error> {
    let (column, sql_type) = sort_column(sort.field);
    let mut query = QueryBuilder::new(format!(
        "SELECT release_id, kind, status, main_title, year, airing_year, airing_season, genres, \
             score, popularity, poster_url, episodes_total, episodes_aired, updated_at, version, \
             ({column})::text AS sort_value \
         FROM releases"
    ));
    push_filters(&mut query, filters);
    let (comparison, direction) = if sort.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = cursor {
        query
            .push(format!(" AND ({column}, release_id) {comparison} ("))
            .push_bind(cursor.value.clone())
            .push(format!("::{sql_type}, "))
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(format!(
            " ORDER BY {column} {direction}, release_id {direction} LIMIT "
        ))
        .push_bind(limit + 1);
    query.build_query_as().fetch_all(pool).await
}

/// The whole row of a release, for its detail.
#[derive(Debug, sqlx::FromRow)]
pub struct DetailRow {
    pub release_id: Uuid,
    pub version: i64,
    pub deleted: bool,
    pub kind: String,
    pub status: String,
    pub main_title: String,
    pub titles: sqlx::types::Json<Vec<schemas::releases::Title>>,
    pub external_ids: serde_json::Value,
    pub year: Option<i32>,
    pub airing_year: Option<i32>,
    pub airing_season: Option<String>,
    pub genres: Vec<String>,
    pub age_rating: Option<String>,
    pub description: Option<String>,
    pub poster_url: Option<String>,
    pub episodes_total: Option<i32>,
    pub episodes_aired: Option<i32>,
    pub next_episode_at: Option<DateTime<Utc>>,
    pub score: Option<f64>,
    pub popularity: Option<i64>,
    pub teams: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// The release, deleted ones included (as tombstones). Its version is the newest
/// the view reflects: a change to one translation's sources is a release version too,
/// kept on that translation's row.
pub async fn detail(pool: &PgPool, release_id: Uuid) -> Result<Option<DetailRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.release_id, \
             GREATEST(r.version, (SELECT max(s.version) FROM release_sources s \
                                  WHERE s.release_id = r.release_id)) AS version, \
             r.kind, r.status, r.main_title, r.titles, r.external_ids, r.year, \
             r.airing_year, r.airing_season, r.genres, r.age_rating, r.description, \
             r.poster_url, r.episodes_total, r.episodes_aired, r.next_episode_at, r.score, \
             r.popularity, r.teams, r.updated_at, r.deleted \
         FROM releases r WHERE r.release_id = $1",
    )
    .bind(release_id)
    .fetch_optional(pool)
    .await
}

/// One episode.
#[derive(Debug, sqlx::FromRow)]
pub struct EpisodeRow {
    pub season: i32,
    pub number: String,
    pub title: Option<String>,
    pub recap: bool,
    pub filler: bool,
}

/// Episodes after `(season, number)` in numeric order, `limit + 1` of them.
pub async fn episodes(
    pool: &PgPool,
    release_id: Uuid,
    season: Option<i32>,
    after: Option<(i32, String)>,
    limit: i64,
) -> Result<Vec<EpisodeRow>, sqlx::Error> {
    let (after_season, after_number) = after.unzip();
    sqlx::query_as(
        "SELECT season, number_text AS number, title, recap, filler FROM release_episodes \
         WHERE release_id = $1 AND ($2::int IS NULL OR season = $2) \
             AND ($3::int IS NULL OR (season, number) > ($3, $4::numeric)) \
         ORDER BY season, release_episodes.number LIMIT $5",
    )
    .bind(release_id)
    .bind(season)
    .bind(after_season)
    .bind(after_number)
    .bind(limit + 1)
    .fetch_all(pool)
    .await
}

/// Episode counts per season.
pub async fn seasons(pool: &PgPool, release_id: Uuid) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT season, count(*) FROM release_episodes WHERE release_id = $1 \
         GROUP BY season ORDER BY season",
    )
    .bind(release_id)
    .fetch_all(pool)
    .await
}

/// The sources of one translation.
#[derive(Debug, sqlx::FromRow)]
pub struct SourcesRow {
    pub translation_id: i64,
    pub translation_title: String,
    pub translation_kind: String,
    pub team: Option<String>,
    pub quality: Option<String>,
    pub camrip: bool,
    pub blocked_countries: Vec<String>,
    pub sources: sqlx::types::Json<Vec<schemas::releases::EpisodeSource>>,
}

/// Every translation's sources, voice first, then by title.
pub async fn sources(pool: &PgPool, release_id: Uuid) -> Result<Vec<SourcesRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT translation_id, translation_title, translation_kind, team, quality, camrip, \
             blocked_countries, sources \
         FROM release_sources WHERE release_id = $1 AND NOT removed \
         ORDER BY translation_kind DESC, translation_title, translation_id",
    )
    .bind(release_id)
    .fetch_all(pool)
    .await
}

/// `(name, releases)` for every genre, most used first.
pub async fn genres(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT genre, count(*) FROM releases, unnest(genres) AS genre WHERE NOT deleted \
         GROUP BY genre ORDER BY count(*) DESC, genre",
    )
    .fetch_all(pool)
    .await
}

/// `(name, releases)` for every team, most releases first.
pub async fn teams(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT team, count(*) FROM releases, unnest(teams) AS team WHERE NOT deleted \
         GROUP BY team ORDER BY count(*) DESC, team",
    )
    .fetch_all(pool)
    .await
}
