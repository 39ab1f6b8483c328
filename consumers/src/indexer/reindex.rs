//! `consumers reindex`: builds the next version of the release index from the read
//! model and swaps the alias to it in one atomic `_aliases` call, so queries keep
//! answering from the old index until the new one is complete and refreshed.
//!
//! The live indexer keeps writing through the alias meanwhile, that is into the old
//! index. To not lose those writes, a catch-up pass re-copies every row the read model
//! changed since the copy started, after the swap; external versioning makes copying
//! a row twice harmless.

use std::time::Instant;

use chrono::{DateTime, Utc};
use schemas::releases::Title;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    document::{Release, tombstone},
    engine::{BulkWrite, Engine, EngineError},
};

const BATCH: i64 = 500;

#[derive(sqlx::FromRow)]
struct Row {
    release_id: Uuid,
    version: i64,
    deleted: bool,
    kind: String,
    status: String,
    titles: sqlx::types::Json<Vec<Title>>,
    year: Option<i32>,
    airing_year: Option<i32>,
    airing_season: Option<String>,
    genres: Vec<String>,
    age_rating: Option<String>,
    translation_kinds: Vec<String>,
    teams: Vec<String>,
    popularity: Option<i64>,
    score: Option<f64>,
    updated_at: DateTime<Utc>,
    poster_url: Option<String>,
}

impl Row {
    fn into_write(self) -> BulkWrite {
        let id = self.release_id.to_string();
        if self.deleted {
            return BulkWrite::Index {
                id,
                version: self.version,
                document: tombstone(self.release_id),
            };
        }
        let season = match (self.airing_season, self.airing_year) {
            (Some(season), Some(year)) => Some(format!("{season}_{year}")),
            _ => None,
        };
        let release = Release {
            release_id: self.release_id,
            kind: Some(self.kind),
            status: Some(self.status),
            titles: self.titles.0,
            year: self.year,
            season,
            genres: self.genres,
            age_rating: self.age_rating,
            translation_kinds: self.translation_kinds,
            teams: self.teams,
            popularity: self.popularity,
            score: self.score,
            updated_at: self.updated_at,
            poster_url: self.poster_url,
        };
        BulkWrite::Index {
            id,
            version: self.version,
            document: release.to_document(),
        }
    }
}

/// Why a reindex stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    /// Reading the read model failed.
    #[error("reading the read model: {0}")]
    Database(#[from] sqlx::Error),
    /// The search engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Builds the next index version, swaps the alias, deletes the previous versions.
/// Prints progress to stdout. Returns the new index name.
pub async fn run(pool: &PgPool, engine: &Engine) -> Result<String, ReindexError> {
    let previous = engine.alias_targets().await?;
    let next_version = previous
        .iter()
        .filter_map(|name| {
            name.rsplit_once("-v")
                .and_then(|(_, n)| n.parse::<u32>().ok())
        })
        .max()
        .map_or(super::FIRST_INDEX_VERSION, |current| current + 1);
    let index = engine.index_name(next_version);
    engine.create_index(&index).await?;
    println!("reindex: building {index}");

    let started_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(pool).await?;
    let clock = Instant::now();
    let copied = copy(pool, engine, &index, None).await?;
    println!(
        "reindex: {copied} releases copied in {:.1} s",
        clock.elapsed().as_secs_f64()
    );

    engine.refresh(&index).await?;
    engine.swap_alias(&index, &previous).await?;
    println!("reindex: alias {} now points at {index}", engine.alias());
    let caught_up = copy(pool, engine, &index, Some(started_at)).await?;
    engine.refresh(&index).await?;
    println!("reindex: {caught_up} releases changed during the copy, re-copied");
    for old in previous.iter().filter(|old| **old != index) {
        engine.delete_index(old).await?;
        println!("reindex: deleted {old}");
    }
    Ok(index)
}

async fn copy(
    pool: &PgPool,
    engine: &Engine,
    index: &str,
    changed_since: Option<DateTime<Utc>>,
) -> Result<usize, ReindexError> {
    let mut after = Uuid::nil();
    let mut total = 0;
    loop {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT release_id, version, deleted, kind, status, titles, year, airing_year, \
                 airing_season, genres, age_rating, translation_kinds, teams, popularity, score, \
                 updated_at, poster_url \
             FROM releases \
             WHERE release_id > $1 AND ($2::timestamptz IS NULL OR projected_at >= $2) \
             ORDER BY release_id LIMIT $3",
        )
        .bind(after)
        .bind(changed_since)
        .bind(BATCH)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(total);
        };
        after = last.release_id;
        let count = rows.len();
        engine
            .bulk(index, rows.into_iter().map(Row::into_write).collect())
            .await?;
        total += count;
        if changed_since.is_none() {
            println!("reindex: {total} releases copied");
        }
    }
}
