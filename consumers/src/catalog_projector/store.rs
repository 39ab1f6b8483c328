//! The catalogue tables of the read model, written only if the event is newer than
//! what each row already reflects. Every write returns whether it changed anything.

use chrono::{DateTime, Utc};
use schemas::releases::{ReleaseSourcesUpserted, ReleaseUpserted, TranslationKind};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::titles::{decode_entities, main_title};

/// The JSON text of a serde enum value (`"pg13"` → `pg13`).
fn enum_text<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
}

/// Upserts the release and replaces its episodes, within the caller's transaction, if
/// `version` is newer than the stored one.
pub async fn upsert_release(
    transaction: &mut PgConnection,
    event: &ReleaseUpserted,
    version: i64,
    occurred_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut titles = event.titles.clone();
    for title in &mut titles {
        title.text = decode_entities(&title.text);
    }
    let mut translation_kinds: Vec<String> = event
        .translations
        .iter()
        .filter_map(|summary| enum_text(&summary.translation.kind))
        .collect();
    translation_kinds.sort();
    translation_kinds.dedup();
    let mut teams: Vec<String> = event
        .translations
        .iter()
        .filter_map(|summary| summary.team.clone())
        .collect();
    teams.sort();
    teams.dedup();
    let mut genres: Vec<String> = event
        .genres
        .iter()
        .map(|genre| genre.to_lowercase())
        .collect();
    genres.sort();
    genres.dedup();

    let applied = sqlx::query(
        "INSERT INTO releases (release_id, version, deleted, kind, status, main_title, titles, \
             external_ids, year, airing_year, airing_season, genres, age_rating, description, \
             poster_url, episodes_total, episodes_aired, next_episode_at, score, popularity, \
             translations, translation_kinds, teams, needs_review, updated_at) \
         VALUES ($1, $2, false, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21, $22, $23, $24) \
         ON CONFLICT (release_id) DO UPDATE SET \
             version = EXCLUDED.version, deleted = false, kind = EXCLUDED.kind, \
             status = EXCLUDED.status, main_title = EXCLUDED.main_title, \
             titles = EXCLUDED.titles, external_ids = EXCLUDED.external_ids, \
             year = EXCLUDED.year, airing_year = EXCLUDED.airing_year, \
             airing_season = EXCLUDED.airing_season, genres = EXCLUDED.genres, \
             age_rating = EXCLUDED.age_rating, description = EXCLUDED.description, \
             poster_url = EXCLUDED.poster_url, episodes_total = EXCLUDED.episodes_total, \
             episodes_aired = EXCLUDED.episodes_aired, \
             next_episode_at = EXCLUDED.next_episode_at, score = EXCLUDED.score, \
             popularity = EXCLUDED.popularity, translations = EXCLUDED.translations, \
             translation_kinds = EXCLUDED.translation_kinds, teams = EXCLUDED.teams, \
             needs_review = EXCLUDED.needs_review, updated_at = EXCLUDED.updated_at, \
             projected_at = now() \
         WHERE releases.version < EXCLUDED.version",
    )
    .bind(event.release_id)
    .bind(version)
    .bind(enum_text(&event.kind))
    .bind(enum_text(&event.status))
    .bind(main_title(&titles))
    .bind(sqlx::types::Json(&titles))
    .bind(sqlx::types::Json(&event.external_ids))
    .bind(event.year)
    .bind(event.airing_season.map(|season| season.year))
    .bind(
        event
            .airing_season
            .and_then(|season| enum_text(&season.season)),
    )
    .bind(&genres)
    .bind(event.age_rating.and_then(|rating| enum_text(&rating)))
    .bind(&event.description)
    .bind(&event.poster_url)
    .bind(event.episodes_total)
    .bind(event.episodes_aired)
    .bind(event.next_episode_at)
    .bind(event.score)
    .bind(event.popularity)
    .bind(sqlx::types::Json(&event.translations))
    .bind(&translation_kinds)
    .bind(&teams)
    .bind(event.needs_review)
    .bind(occurred_at)
    .execute(&mut *transaction)
    .await?
    .rows_affected()
        == 1;
    if !applied {
        return Ok(false);
    }

    sqlx::query("DELETE FROM release_episodes WHERE release_id = $1")
        .bind(event.release_id)
        .execute(&mut *transaction)
        .await?;
    let mut seasons = Vec::new();
    let mut numbers = Vec::new();
    let mut titles = Vec::new();
    let mut recaps = Vec::new();
    let mut fillers = Vec::new();
    for episode in &event.episodes {
        seasons.push(episode.season);
        numbers.push(episode.number.trim().to_owned());
        titles.push(episode.title.clone());
        recaps.push(episode.recap);
        fillers.push(episode.filler);
    }
    // A number that is not a decimal is dropped by the WHERE rather than failing the
    // whole release; duplicates keep the first occurrence.
    sqlx::query(
        "INSERT INTO release_episodes (release_id, season, number, number_text, title, recap, filler) \
         SELECT $1, season, number_text::numeric, number_text, title, recap, filler \
         FROM unnest($2::int[], $3::text[], $4::text[], $5::bool[], $6::bool[]) \
             AS e(season, number_text, title, recap, filler) \
         WHERE number_text ~ '^[0-9]+(\\.[0-9]+)?$' \
         ON CONFLICT (release_id, season, number) DO NOTHING",
    )
    .bind(event.release_id)
    .bind(&seasons)
    .bind(&numbers)
    .bind(&titles)
    .bind(&recaps)
    .bind(&fillers)
    .execute(&mut *transaction)
    .await?;
    Ok(true)
}

/// Turns the release into a tombstone at `version` and drops its episodes and sources.
pub async fn delete_release(
    transaction: &mut PgConnection,
    release_id: Uuid,
    version: i64,
) -> Result<bool, sqlx::Error> {
    let applied = sqlx::query(
        "INSERT INTO releases (release_id, version, deleted) VALUES ($1, $2, true) \
         ON CONFLICT (release_id) DO UPDATE SET version = EXCLUDED.version, deleted = true, \
             projected_at = now() \
         WHERE releases.version < EXCLUDED.version",
    )
    .bind(release_id)
    .bind(version)
    .execute(&mut *transaction)
    .await?
    .rows_affected()
        == 1;
    if !applied {
        return Ok(false);
    }
    sqlx::query("DELETE FROM release_episodes WHERE release_id = $1")
        .bind(release_id)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(
        "UPDATE release_sources SET removed = true, sources = '[]', version = $2 \
         WHERE release_id = $1 AND version < $2",
    )
    .bind(release_id)
    .bind(version)
    .execute(&mut *transaction)
    .await?;
    Ok(true)
}

/// Replaces the sources of one translation if `version` is newer than its row.
pub async fn upsert_sources(
    connection: &mut PgConnection,
    event: &ReleaseSourcesUpserted,
    version: i64,
) -> Result<bool, sqlx::Error> {
    let kind = match event.translation.kind {
        TranslationKind::Voice => "voice",
        TranslationKind::Subtitles => "subtitles",
    };
    let result = sqlx::query(
        "INSERT INTO release_sources (release_id, translation_id, version, removed, \
             translation_title, translation_kind, team, quality, camrip, blocked_countries, \
             blocked_seasons, sources) \
         VALUES ($1, $2, $3, false, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (release_id, translation_id) DO UPDATE SET \
             version = EXCLUDED.version, removed = false, \
             translation_title = EXCLUDED.translation_title, \
             translation_kind = EXCLUDED.translation_kind, team = EXCLUDED.team, \
             quality = EXCLUDED.quality, camrip = EXCLUDED.camrip, \
             blocked_countries = EXCLUDED.blocked_countries, \
             blocked_seasons = EXCLUDED.blocked_seasons, sources = EXCLUDED.sources \
         WHERE release_sources.version < EXCLUDED.version",
    )
    .bind(event.release_id)
    .bind(event.translation.id)
    .bind(version)
    .bind(&event.translation.title)
    .bind(kind)
    .bind(&event.team)
    .bind(&event.quality)
    .bind(event.camrip)
    .bind(&event.blocked_countries)
    .bind(sqlx::types::Json(&event.blocked_seasons))
    .bind(sqlx::types::Json(&event.sources))
    .execute(connection)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks the sources of one translation removed if `version` is newer than its row.
pub async fn remove_sources(
    connection: &mut PgConnection,
    release_id: Uuid,
    translation_id: i64,
    version: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO release_sources (release_id, translation_id, version, removed) \
         VALUES ($1, $2, $3, true) \
         ON CONFLICT (release_id, translation_id) DO UPDATE SET \
             version = EXCLUDED.version, removed = true, sources = '[]' \
         WHERE release_sources.version < EXCLUDED.version",
    )
    .bind(release_id)
    .bind(translation_id)
    .bind(version)
    .execute(connection)
    .await?;
    Ok(result.rows_affected() == 1)
}
